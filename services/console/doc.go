// Package console is the operator console at /ui/: server-rendered pages (html/template, one
// stylesheet, no script) where a DPO reviews a run, applies it, and answers "why is this
// contact still here?". It reads and acts only through the public HTTP API, as the signed-in
// token, so a page can never show or do more than that token may.
package console
