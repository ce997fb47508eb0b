module github.com/zenith-hq/zenith/services/rule-engine

go 1.26.8
