package dev.kubemtls.signer.internal;

import java.util.List;
import java.util.Set;

/**
 * Decides from a cache, and never denies from it alone: a denial whose reason depends on the
 * cluster's state (the Pod binding, its IPs, the Services that select it) is decided again with live
 * reads, and the live verdict is the one written. A cache that is behind (a Pod's new IP, a Service's
 * new selector, a Pod recreated under the same name) therefore costs one more lookup, not a wrong
 * denial.
 */
final class Lookups {

  /** The denial reasons that a lookup of Pods or Services decided. */
  static final Set<String> CLUSTER_DEPENDENT = Set.of(ApprovalDecision.POD_BINDING_REQUIRED,
      ApprovalDecision.UNAUTHORIZED_IP_ADDRESS, ApprovalDecision.UNAUTHORIZED_DNS_NAME);

  private Lookups() {}

  /** The verdict from {@code cached}, or, for a cluster-dependent denial, the verdict from {@code live}. */
  static ApprovalDecision decide(ApprovalPolicy policy, CertificateRequest csr, List<String> usages, Requester requester,
      ClusterView cached, ClusterView live) {
    ApprovalDecision first = policy.decide(csr, usages, requester, cached);
    if (first.approved() || cached == live || !CLUSTER_DEPENDENT.contains(first.reason())) {
      return first;
    }
    return policy.decide(csr, usages, requester, live);
  }
}
