module github.com/zenith-hq/zenith/services/ingestor

go 1.26.8
