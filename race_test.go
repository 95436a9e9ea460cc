//go:build race

package main

// raceEnabled makes TestMain build the exporter with the race detector too,
// so that the end-to-end and soak tests check the binary for data races.
const raceEnabled = true
