module github.com/zenith-hq/zenith/services/dispatcher

go 1.26.8
