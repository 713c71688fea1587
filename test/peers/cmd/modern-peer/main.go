// modern-peer behaves as a 1.31+ cluster: the API server's own stream translator (v5 WebSocket
// exec/attach) and tunneling handler (WebSocket port-forward) in front of the same kubelet code
// as the legacy peer; --refuse-spdy makes it a cluster that has removed SPDY.
package main

import (
	"kube-stream-gateway/test/peers/internal/front"
	"kube-stream-gateway/test/peers/internal/peer"
)

func main() {
	peer.Main(front.Mode{Modern: true, GitVersion: "v1.33.0"})
}
