// Package mongostore implements the store port on MongoDB (go.mongodb.org/mongo-driver/v2),
// with compare-and-swap and insert-if-absent writes instead of transactions.
package mongostore
