// Package atomicfile writes a file complete or not at all, readable by its owner only: what
// the CLI's exports and the backfill's checkpoint need, since a cut file reads as a whole one.
package atomicfile
