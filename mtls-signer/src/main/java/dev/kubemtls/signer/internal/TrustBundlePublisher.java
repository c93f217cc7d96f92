package dev.kubemtls.signer.internal;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.pki.BundleSignatures;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes the trust bundle, the PEM of every CA certificate workloads should trust, into a
 * ConfigMap in each namespace that opts in with a label, and keeps it there.
 *
 * <p>The publisher watches the opted-in namespaces (a label selector, by default
 * {@code kube-mtls.dev/inject-bundle=true}) and the bundle ConfigMaps themselves (a field selector on
 * their name, in every namespace). Whenever a namespace opts in, or someone edits or deletes the
 * ConfigMap, it is put back: created if missing, its key rewritten if different. Other keys of the
 * ConfigMap are left alone. The bundle is a list so that a CA rotation can publish the old and the
 * next CA side by side; {@link #setBundle} replaces it and republishes everywhere. A namespace that
 * stops opting in keeps its last ConfigMap, which no longer changes.
 *
 * <p>Each bundle goes with its signature ({@link BundleSignatures}) under the key {@code <key>.sig}:
 * a detached CMS signature over the exact PEM text by every CA key the signer holds (the signing CA
 * and, during a rotation, the next one), so workloads can tell it from a bundle that anyone else
 * who may write ConfigMaps there put in. A ConfigMap whose bundle or signature is not one this
 * signer's CAs signed was changed by someone else: it is put back, with a {@code Warning} Event on
 * the ConfigMap (reason {@value #FOREIGN_BUNDLE}) and {@link SignerListener#trustBundleRepaired}. A
 * ConfigMap made {@code immutable} cannot be updated: when it needs a change it is deleted (on
 * condition of its UID and resourceVersion) and created again, with the reason
 * {@value #IMMUTABLE_BUNDLE}. A bundle this signer signed before (an older one) is simply updated.
 *
 * <p>Create with the constructor, then {@link #start}; {@link #close} stops it. Its
 * Kubernetes permissions: list and watch namespaces; create ConfigMaps; get, list, watch, update and
 * delete the ConfigMaps with the bundle's name; create events.
 */
public final class TrustBundlePublisher implements AutoCloseable {

  /** The label managed ConfigMaps carry. */
  public static final String MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
  /** Its value. */
  public static final String MANAGED_BY = "kube-mtls-signer";

  /** The repair reason of a bundle or signature changed by someone else. */
  public static final String FOREIGN_BUNDLE = "ForeignTrustBundle";
  /** The repair reason of a bundle ConfigMap made immutable. */
  public static final String IMMUTABLE_BUNDLE = "ImmutableTrustBundle";

  private static final Logger LOG = LoggerFactory.getLogger(TrustBundlePublisher.class);

  private final KubernetesClient client;
  private final String configMapName;
  private final String key;
  private final String labelKey;
  private final String labelValue;
  private final String signatureKey;
  private final InstantSource clock;
  private final SignerListener listener;
  private final Object lock = new Object();
  private String bundlePem;
  private String signature;
  /** Every CA whose signature marks a bundle as this signer's: those of the bundles it published. */
  private final List<X509Certificate> ownCas = new ArrayList<>();
  private SharedIndexInformer<Namespace> namespaces;
  private SharedIndexInformer<ConfigMap> configMaps;
  private WorkQueue queue;

  /**
   * @param client        the client to act with
   * @param configMapName the ConfigMap's name in each namespace, e.g. {@code kube-mtls-ca-bundle}
   * @param key           the ConfigMap key holding the PEM, e.g. {@code ca.crt}
   * @param namespaceLabel the opt-in label as {@code key=value}
   * @param bundle        the CA certificates to publish, at least one
   * @param signers       the CA keys that sign the bundle, at least one
   * @param clock         the signatures' signing time
   * @param listener      told of repairs
   */
  public TrustBundlePublisher(KubernetesClient client, String configMapName, String key, String namespaceLabel,
      List<X509Certificate> bundle, List<BundleSignatures.Signer> signers, InstantSource clock,
      SignerListener listener) {
    this.client = Objects.requireNonNull(client, "client");
    this.configMapName = Objects.requireNonNull(configMapName, "configMapName");
    this.key = Objects.requireNonNull(key, "key");
    this.signatureKey = BundleSignatures.signatureKey(key);
    this.clock = Objects.requireNonNull(clock, "clock");
    this.listener = Objects.requireNonNull(listener, "listener");
    Objects.requireNonNull(namespaceLabel, "namespaceLabel");
    int eq = namespaceLabel.indexOf('=');
    if (eq <= 0 || eq == namespaceLabel.length() - 1) {
      throw new IllegalArgumentException("namespaceLabel must be key=value, was '" + namespaceLabel + "'");
    }
    this.labelKey = namespaceLabel.substring(0, eq);
    this.labelValue = namespaceLabel.substring(eq + 1);
    this.bundlePem = Publishing.encode(bundle);
    this.signature = BundleSignatures.sign(bundlePem, signers, clock.instant());
    remember(bundle, signers);
  }

  /** Holds the lock. */
  private void remember(List<X509Certificate> bundle, List<BundleSignatures.Signer> signers) {
    for (X509Certificate ca : bundle) {
      if (!ownCas.contains(ca)) {
        ownCas.add(ca);
      }
    }
    for (BundleSignatures.Signer signer : signers) {
      if (!ownCas.contains(signer.certificate())) {
        ownCas.add(signer.certificate());
      }
    }
  }

  /**
   * Starts watching and publishing, without waiting. The returned future completes once the first
   * lists of namespaces and ConfigMaps arrived, or exceptionally if either informer cannot start.
   *
   * @throws IllegalStateException if already started
   */
  public CompletableFuture<Void> start() {
    synchronized (lock) {
      if (queue != null) {
        throw new IllegalStateException("already started");
      }
      queue = new WorkQueue("bundle", 1, Duration.ofMillis(100), Duration.ofSeconds(30), this::reconcile);
      namespaces = client.namespaces().withLabel(labelKey, labelValue).runnableInformer(0);
      configMaps = client.configMaps().inAnyNamespace().withField("metadata.name", configMapName)
          .runnableInformer(0);
    }
    namespaces.addEventHandler(Publishing.enqueue(queue, ns -> ns.getMetadata().getName()));
    configMaps.addEventHandler(Publishing.enqueue(queue, cm -> cm.getMetadata().getNamespace()));
    // ConfigMaps first, so that an opted-in namespace is compared with its existing ConfigMap.
    return configMaps.start().toCompletableFuture().thenCompose(v -> namespaces.start().toCompletableFuture())
        .whenComplete((ok, error) -> {
          if (error != null) {
            LOG.error("cannot list and watch namespaces or bundle ConfigMaps: {}", error.toString());
          }
        });
  }

  /**
   * Replaces the published CA certificates (e.g. during a CA rotation), signed by {@code signers},
   * and republishes them everywhere.
   */
  public void setBundle(List<X509Certificate> bundle, List<BundleSignatures.Signer> signers) {
    String pem = Publishing.encode(bundle);
    String signed = BundleSignatures.sign(pem, signers, clock.instant());
    SharedIndexInformer<Namespace> ns;
    synchronized (lock) {
      bundlePem = pem;
      signature = signed;
      remember(bundle, signers);
      ns = namespaces;
    }
    if (ns != null) {
      ns.getStore().list().forEach(n -> queue.add(n.getMetadata().getName()));
    }
  }

  /** The PEM text currently published. */
  public String bundlePem() {
    synchronized (lock) {
      return bundlePem;
    }
  }

  /** The signature currently published with it (base64 CMS). */
  public String signature() {
    synchronized (lock) {
      return signature;
    }
  }

  private WorkQueue.Outcome reconcile(String namespace) {
    Namespace ns = namespaces.getStore().getByKey(namespace);
    if (ns == null || ns.getMetadata().getDeletionTimestamp() != null
        || (ns.getStatus() != null && "Terminating".equals(ns.getStatus().getPhase()))) {
      return WorkQueue.Outcome.DONE;
    }
    String pem;
    String signed;
    List<X509Certificate> own;
    synchronized (lock) {
      pem = bundlePem;
      signed = signature;
      own = List.copyOf(ownCas);
    }
    ConfigMap current = configMaps.getStore().getByKey(namespace + "/" + configMapName);
    String where = namespace + "/" + configMapName;
    try {
      if (current == null) {
        client.configMaps().inNamespace(namespace).resource(fresh(namespace, Map.of(), pem, signed)).create();
        LOG.info("published the trust bundle to ConfigMap {}", where);
        return WorkQueue.Outcome.DONE;
      }
      Map<String, String> data = current.getData() == null ? Map.of() : current.getData();
      if (pem.equals(data.get(key)) && signed.equals(data.get(signatureKey))) {
        return WorkQueue.Outcome.DONE;
      }
      String foreign = foreignChange(data, own);
      if (Boolean.TRUE.equals(current.getImmutable())) {
        // An immutable ConfigMap cannot be updated, only deleted: delete exactly this one, then create.
        client.configMaps().inNamespace(namespace).withName(configMapName)
            .lockResourceVersion(current.getMetadata().getResourceVersion()).delete();
        client.configMaps().inNamespace(namespace).resource(fresh(namespace, data, pem, signed)).create();
        repaired(current, IMMUTABLE_BUNDLE, "the trust bundle ConfigMap was made immutable"
            + (foreign == null ? "" : " and " + foreign) + "; the signer deleted it and published its bundle again");
        return WorkQueue.Outcome.DONE;
      }
      Map<String, String> updated = new HashMap<>(data);
      updated.put(key, pem);
      updated.put(signatureKey, signed);
      ConfigMap repaired = new ConfigMapBuilder(current).withData(updated).build();
      client.configMaps().inNamespace(namespace).resource(repaired).update();
      if (foreign == null) {
        LOG.info("updated the trust bundle in ConfigMap {}", where);
      } else {
        repaired(current, FOREIGN_BUNDLE, foreign + "; the signer put its own bundle back");
      }
      return WorkQueue.Outcome.DONE;
    } catch (KubernetesClientException e) {
      // A 404 may also mean that the namespace is gone; a 422 after someone made it immutable
      // meanwhile is looked at again once the informer brings that.
      return Publishing.afterFailure(e, "ConfigMap " + where, LOG);
    }
  }

  private ConfigMap fresh(String namespace, Map<String, String> keep, String pem, String signed) {
    Map<String, String> data = new HashMap<>(keep);
    data.put(key, pem);
    data.put(signatureKey, signed);
    return new ConfigMapBuilder().withNewMetadata().withName(configMapName).withNamespace(namespace)
        .addToLabels(MANAGED_BY_LABEL, MANAGED_BY).endMetadata().withData(data).build();
  }

  /**
   * Null when the ConfigMap holds a bundle this signer published (signed by one of its CAs, maybe an
   * older one), else what is wrong with it.
   */
  private String foreignChange(Map<String, String> data, List<X509Certificate> own) {
    String pem = data.get(key);
    if (pem == null) {
      return "key " + key + " was removed from the trust bundle ConfigMap";
    }
    try {
      BundleSignatures.verify(pem, data.get(signatureKey), own, "key " + signatureKey);
      return null;
    } catch (InvalidMaterialException e) {
      return "the trust bundle ConfigMap holds a bundle this signer did not sign (" + e.getMessage() + ")";
    }
  }

  private void repaired(ConfigMap configMap, String reason, String message) {
    String where = configMap.getMetadata().getNamespace() + "/" + configMap.getMetadata().getName();
    LOG.warn("ConfigMap {}: {} ({})", where, message, reason);
    listener.trustBundleRepaired(where, reason);
    Instant now = clock.instant().truncatedTo(ChronoUnit.SECONDS);
    try {
      client.v1().events().inNamespace(configMap.getMetadata().getNamespace()).resource(new EventBuilder()
          .withNewMetadata().withGenerateName(configMap.getMetadata().getName() + ".")
          .withNamespace(configMap.getMetadata().getNamespace()).endMetadata()
          .withNewInvolvedObject().withApiVersion("v1").withKind("ConfigMap")
          .withNamespace(configMap.getMetadata().getNamespace()).withName(configMap.getMetadata().getName())
          .withUid(configMap.getMetadata().getUid()).endInvolvedObject()
          .withType("Warning").withReason(reason).withMessage(message.length() > 1024 ? message.substring(0, 1024) : message)
          .withFirstTimestamp(now.toString()).withLastTimestamp(now.toString()).withCount(1)
          .withNewSource().withComponent(MANAGED_BY).endSource()
          .build()).create();
    } catch (KubernetesClientException e) {
      LOG.warn("cannot record a Warning Event on ConfigMap {} (HTTP {}); does the signer have create on events?",
          where, e.getCode());
    }
  }

  /** Stops watching and publishing. */
  @Override
  public void close() {
    WorkQueue q;
    synchronized (lock) {
      q = queue;
    }
    if (q != null) {
      q.close();
      namespaces.close();
      configMaps.close();
    }
  }
}
