// Command fastpath-image writes fastpath's container image (package
// ociimage) to a tarball, without a container runtime:
//
//	CGO_ENABLED=0 go build -o bin/fastpath-static ./cmd/fastpath
//	go run ./cmd/fastpath-image --binary bin/fastpath-static --out bin/fastpath-image.tar
//
// (make image does both), then `docker load -i`, `podman load -i` or
// `crane push bin/fastpath-image.tar REGISTRY/IMAGE:TAG`.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/fastpathnet/fastpath/deploy/kubernetes/ociimage"
)

func main() {
	binary := flag.String("binary", "", "the static fastpath binary (CGO_ENABLED=0 go build ./cmd/fastpath)")
	out := flag.String("out", "fastpath-image.tar", "the tarball to write")
	tag := flag.String("tag", ociimage.DefaultTag, "the image's tag in the tarball (the manifests run "+ociimage.DefaultTag+")")
	flag.Parse()
	if *binary == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: fastpath-image --binary FILE [--out FILE] [--tag REF]")
		os.Exit(2)
	}
	img, t, err := ociimage.Write(*binary, *out, *tag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fastpath-image:", err)
		os.Exit(1)
	}
	d, _ := img.Digest()
	cf, _ := img.ConfigFile()
	fmt.Printf("%s: %s (%s/%s), image %s\n", *out, t, cf.OS, cf.Architecture, d)
	fmt.Printf("load it with docker load -i %s (or podman load -i), or push it with crane push %s REGISTRY/IMAGE:TAG,\nthen set that image in deploy/kubernetes/image (kustomize edit set image ghcr.io/fastpathnet/fastpath=REGISTRY/IMAGE:TAG)\n", *out, *out)
}
