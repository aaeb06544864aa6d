module github.com/lethe-gdpr/lethe/services/scheduler

go 1.26.0

require (
	github.com/lethe-gdpr/lethe/events v0.0.0
	github.com/lethe-gdpr/lethe/pkg v0.0.0
)

require github.com/robfig/cron/v3 v3.0.1 // indirect

replace (
	github.com/lethe-gdpr/lethe/events => ../../events
	github.com/lethe-gdpr/lethe/pkg => ../../pkg
)
