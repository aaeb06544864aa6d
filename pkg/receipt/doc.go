// Package receipt is the signed erasure receipt: what Lethe erased of one contact, when and by
// which decision, its audit entry and chain head, and each destination's confirmation, signed
// with the instance's Ed25519 key so that anyone holding the public key checks it offline.
package receipt
