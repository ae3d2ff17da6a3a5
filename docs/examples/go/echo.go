// A line echo server in Go, in the design of the well-known socket
// tutorials: a goroutine per connection, each reading lines with bufio and
// writing each one back. usage: echo PORT
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: echo PORT")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", ":"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			continue
		}
		go handle(conn)
	}
}

// handle echoes the client's lines until it goes away.
func handle(conn net.Conn) {
	defer conn.Close()
	reader := bufio.NewReader(conn)
	for {
		line, err := reader.ReadString('\n')
		if err != nil {
			return // io.EOF, or the connection failed
		}
		if _, err := conn.Write([]byte(line)); err != nil {
			return
		}
	}
}
