// Command lethe is the single binary of Lethe: `lethe serve` runs every service (or one, with
// --target) and the client commands talk to a running server.
package main
