package dev.kubemtls.core.names;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The DNS names of a Kubernetes Service, the one place that spells them: {@code svc.ns},
 * {@code svc.ns.svc} and {@code svc.ns.svc.<clusterDomain>}, which name one Service of one
 * namespace, and the bare {@code svc}, which names a different Service in every namespace and is
 * therefore only issued on request. A workload requests them and the signer decides whether a
 * requester may hold them with the same list, so the two cannot disagree.
 */
public final class ServiceNames {

  private ServiceNames() {}

  /**
   * The names of Service {@code service} in {@code namespace}: the bare name first if {@code bare},
   * then the three namespace-qualified forms, shortest first.
   */
  public static List<String> of(String service, String namespace, String clusterDomain, boolean bare) {
    Objects.requireNonNull(service, "service");
    Objects.requireNonNull(namespace, "namespace");
    Objects.requireNonNull(clusterDomain, "clusterDomain");
    List<String> out = new ArrayList<>(4);
    if (bare) {
      out.add(service);
    }
    out.add(service + "." + namespace);
    out.add(service + "." + namespace + ".svc");
    out.add(service + "." + namespace + ".svc." + clusterDomain);
    return List.copyOf(out);
  }

  /** The three namespace-qualified names of Service {@code service} in {@code namespace}. */
  public static List<String> of(String service, String namespace, String clusterDomain) {
    return of(service, namespace, clusterDomain, false);
  }
}
