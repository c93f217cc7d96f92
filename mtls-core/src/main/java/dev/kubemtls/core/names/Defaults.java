package dev.kubemtls.core.names;

/**
 * The names the kube-mtls signer and its workloads agree on when neither is told otherwise. Each is
 * defined once, here: the signer publishes under these names and a workload reads from them.
 */
public final class Defaults {

  /** The ConfigMap the signer publishes its CA bundle in, in every namespace it serves. */
  public static final String TRUST_BUNDLE_CONFIGMAP = "kube-mtls-ca-bundle";

  /** The ConfigMap key of the PEM CA bundle, as in Kubernetes' own {@code kube-root-ca.crt}. */
  public static final String TRUST_BUNDLE_KEY = "ca.crt";

  private Defaults() {}
}
