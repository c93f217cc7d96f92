package dev.kubemtls.samples.demo;

import dev.kubemtls.core.names.Defaults;
import dev.kubemtls.core.pki.Pem;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.util.HexFormat;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Counts completed CA rotations from the cluster's state: the published trust bundle. A rotation is
 * complete when a CA that was in the bundle has left it (the former CA is removed only once no
 * certificate it signed can still be valid), whichever signer replica did the work: the leader that
 * started a rotation may lose the Lease and a standby finish it, and only the cluster saw both.
 */
final class CaRotationWatch implements AutoCloseable {

  private final Set<String> seen = new HashSet<>();
  private final Set<String> removed = new LinkedHashSet<>();
  private final CountDownLatch first = new CountDownLatch(1);
  private final Watch watch;

  CaRotationWatch(KubernetesClient admin, String namespace, String configMap) {
    ConfigMap current = admin.configMaps().inNamespace(namespace).withName(configMap).get();
    update(current);
    watch = admin.configMaps().inNamespace(namespace).withField("metadata.name", configMap).watch(new Watcher<>() {
      @Override
      public void eventReceived(Action action, ConfigMap cm) {
        if (action != Action.DELETED) {
          update(cm);
        }
      }

      @Override
      public void onClose(WatcherException cause) {
        // The demo ends; a lost watch would show as a missing rotation, which the log line says.
      }
    });
  }

  private synchronized void update(ConfigMap cm) {
    if (cm == null || cm.getData() == null || cm.getData().get(Defaults.TRUST_BUNDLE_KEY) == null) {
      return;
    }
    Set<String> now = new HashSet<>();
    for (X509Certificate c : Pem.certificates(cm.getData().get(Defaults.TRUST_BUNDLE_KEY), "the CA bundle")) {
      now.add(fingerprint(c));
    }
    for (String old : seen) {
      if (!now.contains(old)) {
        removed.add(old);
      }
    }
    seen.addAll(now);
    first.countDown();
    notifyAll();
  }

  /** Waits until at least {@code n} rotations completed or {@code timeout} passed; whether they did. */
  synchronized boolean awaitCompleted(int n, java.time.Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (removed.size() < n) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        return false;
      }
      TimeUnit.NANOSECONDS.timedWait(this, left);
    }
    return true;
  }

  /** How many CAs have left the bundle since the demo started watching: completed CA rotations. */
  synchronized int completed() {
    return removed.size();
  }

  /** Whether the bundle was read at least once. */
  boolean started(long timeout, TimeUnit unit) throws InterruptedException {
    return first.await(timeout, unit);
  }

  private static String fingerprint(X509Certificate c) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(c.getEncoded()));
    } catch (NoSuchAlgorithmException | CertificateEncodingException e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public void close() {
    watch.close();
  }
}
