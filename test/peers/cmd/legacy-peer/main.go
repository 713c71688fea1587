// legacy-peer behaves as a ≤1.28 cluster: an API front that proxies every exec, attach and
// port-forward request through upgrade-aware hops to the kubelet's own streaming server.
package main

import (
	"kube-stream-gateway/test/peers/internal/front"
	"kube-stream-gateway/test/peers/internal/peer"
)

func main() {
	peer.Main(front.Mode{GitVersion: "v1.28.15"})
}
