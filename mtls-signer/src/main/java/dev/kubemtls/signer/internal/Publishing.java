package dev.kubemtls.signer.internal;

import dev.kubemtls.core.pki.Pem;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;
import org.slf4j.Logger;

/** What the trust-bundle publishers share: the PEM they write, their queueing and their retries. */
public final class Publishing {

  private Publishing() {}

  /** The PEM text of the bundle. */
  public static String encode(List<X509Certificate> bundle) {
    Objects.requireNonNull(bundle, "bundle");
    if (bundle.isEmpty()) {
      throw new IllegalArgumentException("the trust bundle needs at least one CA certificate");
    }
    return Pem.encodeCertificates(List.copyOf(bundle));
  }

  /** An informer handler that queues the key of every object added, updated or deleted. */
  public static <T> ResourceEventHandler<T> enqueue(WorkQueue queue, Function<T, String> keyOf) {
    return new ResourceEventHandler<>() {
      @Override
      public void onAdd(T obj) {
        queue.add(keyOf.apply(obj));
      }

      @Override
      public void onUpdate(T oldObj, T newObj) {
        queue.add(keyOf.apply(newObj));
      }

      @Override
      public void onDelete(T obj, boolean deletedFinalStateUnknown) {
        queue.add(keyOf.apply(obj));
      }
    };
  }

  /**
   * What to do after a failed create or update of {@code what}: a 409 (created or changed
   * meanwhile) or a 404 (deleted between cache and update) is looked at again at once, when the
   * informer has brought the new state; anything else is logged and retried with backoff.
   */
  public static WorkQueue.Outcome afterFailure(KubernetesClientException e, String what, Logger log) {
    if (e.getCode() == 409 || e.getCode() == 404) {
      return WorkQueue.Outcome.RETRY_NOW;
    }
    log.warn("cannot publish the trust bundle to {}: {} {}", what, e.getCode(), e.getMessage());
    return WorkQueue.Outcome.RETRY_BACKOFF;
  }
}
