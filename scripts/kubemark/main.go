// Command kubemark runs Kubernetes' hollow node (k8s.io/kubernetes/cmd/kubemark) with
// kubelet feature gates taken from the environment.
//
// The upstream hollow node has no --feature-gates flag, and the kubelet it embeds does not
// apply KubeletConfiguration.FeatureGates, so gates that are off by default (for example
// PodCertificateRequest in 1.35) cannot be turned on for it. This wrapper sets them on the
// process-wide feature gate before the command starts:
//
//	KUBEMARK_FEATURE_GATES=PodCertificateRequest=true kubemark --morph=kubelet --name=node-1 ...
//
// scripts/k8s-binaries.sh builds it from the same Kubernetes Go modules as the other
// test binaries; the testkit's HollowNode runs it.
package main

import (
	"fmt"
	"os"

	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kubemark/app"
)

const featureGatesEnv = "KUBEMARK_FEATURE_GATES"

func main() {
	if gates := os.Getenv(featureGatesEnv); gates != "" {
		if err := utilfeature.DefaultMutableFeatureGate.Set(gates); err != nil {
			fmt.Fprintf(os.Stderr, "kubemark: %s=%q is not a valid feature-gate list (want Name=true,Other=false): %v\n",
				featureGatesEnv, gates, err)
			os.Exit(2)
		}
	}
	os.Exit(cli.Run(app.NewHollowNodeCommand()))
}
