module github.com/zenith-hq/zenith/migrations

go 1.26.8
