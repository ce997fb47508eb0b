module github.com/zenith-hq/zenith/cmd

go 1.26.8
