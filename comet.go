// Package comet holds Comet's domain: the events that flow between browsers and
// the server, the players who send them, and the small interfaces (bus, stores)
// that the adapters in server/, gameloop/ and the storage packages implement.
//
// This package imports nothing of HTTP, SQL or the game loop; everything else
// imports it. See docs/ARCHITECTURE.md.
package comet
