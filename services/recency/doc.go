// Package recency consumes LETHE_ACTIVITY and keeps the contacts projection: GDPR recency as a max-register,
// with the event that set it, and every fact the retention decision needs.
package recency
