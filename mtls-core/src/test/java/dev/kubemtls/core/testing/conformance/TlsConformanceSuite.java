package dev.kubemtls.core.testing.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.testing.OutsidePeer;
import dev.kubemtls.core.testing.RecordingTlsListener;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsListener.HandshakeFailure;
import dev.kubemtls.core.tls.TlsListener.Side;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.testkit.TestCa;
import java.math.BigInteger;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.UnaryOperator;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/**
 * What every kube-mtls integration must do the same way, run against each through a
 * {@link TlsIntegration} adapter: a subclass in the integration's tests names its adapter and
 * inherits these cases. The peers that are not kube-mtls are {@link OutsidePeer}s (the JDK's TLS,
 * limited the way {@code openssl s_client} limits itself).
 *
 * <ul>
 *   <li>the integration's client and server complete a handshake and report it on both sides;
 *   <li>the {@link TlsPolicy}: TLS 1.3 and 1.2 served, 1.1 not; no SHA-1 signature; only the
 *       policy's key-exchange groups; a client certificate required;
 *   <li>the refusal classes a listener hears: an unknown CA, an expired certificate, a certificate
 *       without a SPIFFE ID; a client's {@link PeerPolicy} pin and its check of the dialled address;
 *   <li>a server made before its first material refuses handshakes, then serves once material is
 *       published, without a restart;
 *   <li>certificate renewals on both sides and a CA rotation with an overlapping bundle while
 *       clients keep calling: no call fails, new connections see the new certificate, and once the
 *       old CA has left the bundle a certificate from it is refused.
 * </ul>
 */
public abstract class TlsConformanceSuite {

  /** The server's names: its SPIFFE ID and the address clients dial. */
  protected static final String SERVER_NS = "payments";
  protected static final String SERVER_SA = "api";
  protected static final String CLIENT_NS = "billing";
  protected static final String CLIENT_SA = "invoicer";
  private static final Duration LOAD_STEP = Duration.ofSeconds(30);
  private static final int WORKERS = 2;
  /** For servers and clients whose events a case does not read. */
  private static final TlsListener NONE = new TlsListener() {};

  protected final TestCa ca = TestCa.create("conformance CA");
  protected final TrustBundle trust = new TrustBundle(List.of(ca.certificate()), "conformance@1");

  /** The integration under test. */
  protected abstract TlsIntegration integration();

  /** The policy the tests build servers and clients with; the defaults unless an integration needs others. */
  protected TlsPolicy policy() {
    return TlsPolicy.defaults();
  }

  // ---------------------------------------------------------------- handshakes

  @Test
  void clientAndServerCompleteAHandshakeAndReportIt() throws Exception {
    TlsIntegration it = integration();
    RecordingTlsListener serverEvents = new RecordingTlsListener();
    RecordingTlsListener clientEvents = new RecordingTlsListener();
    try (TlsIntegration.Server server = it.server(serverSource(ca, trust), policy(), PeerPolicy.anySpiffeId(), serverEvents);
        TlsIntegration.Client client = it.client(clientSource(ca, trust), policy(), PeerPolicy.anySpiffeId(), clientEvents)) {
      assertThat(client.call(server.port())).isEqualTo(it.okLine());
      assertThat(serverEvents.next().assertSucceeded(Side.SERVER, "TLSv1.3"))
          .contains("spiffe://cluster.local/ns/" + CLIENT_NS + "/sa/" + CLIENT_SA);
      assertThat(clientEvents.next().assertSucceeded(Side.CLIENT, "TLSv1.3"))
          .contains("spiffe://cluster.local/ns/" + SERVER_NS + "/sa/" + SERVER_SA);
    }
  }

  // ---------------------------------------------------------------- the TLS policy

  @Test
  void protocolsAndSignatureSchemesAreThePolicys() throws Exception {
    TlsIntegration it = integration();
    try (TlsIntegration.Server server = it.server(serverSource(ca, trust), policy(), PeerPolicy.anySpiffeId(), NONE)) {
      for (String protocol : new String[] {"TLSv1.3", "TLSv1.2"}) {
        OutsidePeer.Result r = it.ask(outside(client(ca)).protocols(protocol), server.port());
        assertThat(r.firstLine()).as(protocol + ": " + r).isEqualTo(it.okLine());
      }
      OutsidePeer.Result old = it.ask(outside(client(ca)).protocols("TLSv1.1"), server.port());
      assertThat(old.succeeded()).as("TLSv1.1: " + old).isFalse();
      OutsidePeer.Result sha1 = it.ask(outside(client(ca)).protocols("TLSv1.2")
          .onlySignatureSchemes("ecdsa_sha1", "rsa_pkcs1_sha1"), server.port());
      assertThat(sha1.succeeded()).as("a client limited to SHA-1 signatures: " + sha1).isFalse();
    }
  }

  @Test
  void onlyThePolicysGroupsAreNegotiated() throws Exception {
    TlsIntegration it = integration();
    // RSA keys, so a group refusal is about the key exchange and not the certificate's curve.
    TlsIdentity server = rsa(b -> b.commonName(SERVER_SA).spiffe(SERVER_NS, SERVER_SA).ip("127.0.0.1"));
    TlsIdentity client = rsa(b -> b.commonName(CLIENT_SA).spiffe(CLIENT_NS, CLIENT_SA));
    try (TlsIntegration.Server s = it.server(new MaterialPublisher(new MtlsMaterial(server, trust, 1)), policy(),
        PeerPolicy.anySpiffeId(), NONE)) {
      for (String group : policy().namedGroups()) {
        for (String protocol : new String[] {"TLSv1.3", "TLSv1.2"}) {
          OutsidePeer.Result r = it.ask(outside(client).protocols(protocol).onlyGroups(group), s.port());
          assertThat(r.firstLine()).as(group + " " + protocol + ": " + r).isEqualTo(it.okLine());
        }
      }
      for (String group : new String[] {"x448", "secp521r1", "ffdhe2048", "ffdhe3072"}) {
        OutsidePeer.Result r = it.ask(outside(client).onlyGroups(group), s.port());
        assertThat(r.succeeded()).as(group + ": " + r).isFalse();
      }
    }
  }

  @Test
  void aClientWithoutACertificateIsRefused() throws Exception {
    TlsIntegration it = integration();
    RecordingTlsListener events = new RecordingTlsListener();
    try (TlsIntegration.Server server = it.server(serverSource(ca, trust), policy(), PeerPolicy.anySpiffeId(), events)) {
      OutsidePeer.Result r = new OutsidePeer(null, List.of(ca.certificate())).refusal(server.port());
      assertThat(r.succeeded()).as(r.toString()).isFalse();
      events.next().assertFailed(Side.SERVER, HandshakeFailure.NO_PEER_CERTIFICATE);
    }
  }

  // ---------------------------------------------------------------- refusals and their classes

  @Test
  void refusedClientCertificatesAreClassifiedByCause() throws Exception {
    TlsIntegration it = integration();
    TlsIdentity foreign = identity(TestCa.create("some other CA"), b -> b.commonName(CLIENT_SA).spiffe(CLIENT_NS, CLIENT_SA));
    TlsIdentity expired = identity(ca, b -> b.commonName(CLIENT_SA).spiffe(CLIENT_NS, CLIENT_SA)
        .validity(Instant.now().minus(Duration.ofHours(3)), Duration.ofHours(1)));
    TlsIdentity noSpiffe = identity(ca, b -> b.commonName("legacy").dns("legacy.billing.svc"));
    RecordingTlsListener events = new RecordingTlsListener();
    try (TlsIntegration.Server server = it.server(serverSource(ca, trust), policy(), PeerPolicy.anySpiffeId(), events)) {
      refused(it, server, events, foreign, HandshakeFailure.UNTRUSTED_PEER);
      refused(it, server, events, expired, HandshakeFailure.EXPIRED_PEER_CERTIFICATE);
      refused(it, server, events, noSpiffe, HandshakeFailure.PEER_NOT_ALLOWED);
      // And a conforming client is served by the same server afterwards.
      assertThat(it.ask(outside(client(ca)), server.port()).firstLine()).isEqualTo(it.okLine());
    }
  }

  private void refused(TlsIntegration it, TlsIntegration.Server server, RecordingTlsListener events,
      TlsIdentity client, HandshakeFailure expected) throws Exception {
    RecordingTlsListener.Event e;
    if (it.refusesPeersPerRequest()) {
      // The request is what gets refused: no ok answer, and a refusal after any handshake success.
      OutsidePeer.Result r = it.ask(outside(client).protocols("TLSv1.3"), server.port());
      assertThat(r.firstLine()).as(expected + ": " + r).isNotEqualTo(it.okLine());
      e = events.next();
      while (e.outcome() == RecordingTlsListener.Outcome.SUCCEEDED) {
        e = events.next();
      }
    } else {
      OutsidePeer.Result r = outside(client).protocols("TLSv1.3").refusal(server.port());
      assertThat(r.succeeded()).as(expected + ": " + r).isFalse();
      e = events.next();
    }
    assertThat(e.outcome()).as(e.toString()).isIn(RecordingTlsListener.Outcome.FAILED, RecordingTlsListener.Outcome.REFUSED);
    assertThat(e.reason()).as(e.toString()).isEqualTo(expected);
  }

  @Test
  void aClientRefusesAServerOutsideItsPeerPolicy() throws Exception {
    TlsIntegration it = integration();
    RecordingTlsListener clientEvents = new RecordingTlsListener();
    PeerPolicy onlyOrders = PeerPolicy.builder().allowServiceAccount("shop", "orders").build();
    try (TlsIntegration.Server server = it.server(serverSource(ca, trust), policy(), PeerPolicy.anySpiffeId(), NONE);
        TlsIntegration.Client client = it.client(clientSource(ca, trust), policy(), onlyOrders, clientEvents)) {
      assertThatThrownBy(() -> client.call(server.port())).as("a server outside the client's pin");
      RecordingTlsListener.Event e = clientEvents.next();
      assertThat(e.reason()).as(e.toString()).isEqualTo(HandshakeFailure.PEER_NOT_ALLOWED);
    }
  }

  @Test
  void aClientRefusesAServerWhoseCertificateDoesNotNameTheDialledAddress() throws Exception {
    TlsIntegration it = integration();
    RecordingTlsListener clientEvents = new RecordingTlsListener();
    TlsIdentity elsewhere = identity(ca, b -> b.commonName(SERVER_SA).spiffe(SERVER_NS, SERVER_SA).ip("127.0.0.2")
        .dns("api.payments.svc"));
    try (TlsIntegration.Server server = it.server(new MaterialPublisher(new MtlsMaterial(elsewhere, trust, 1)), policy(),
        PeerPolicy.anySpiffeId(), NONE);
        TlsIntegration.Client client = it.client(clientSource(ca, trust), policy(), PeerPolicy.anySpiffeId(), clientEvents)) {
      assertThatThrownBy(() -> client.call(server.port())).as("a server that does not name 127.0.0.1");
      RecordingTlsListener.Event e = clientEvents.next();
      assertThat(e.reason()).as(e.toString()).isEqualTo(HandshakeFailure.HOSTNAME_MISMATCH);
    }
  }

  // ---------------------------------------------------------------- before the first material

  @Test
  void aServerMadeBeforeItsFirstMaterialRefusesThenServesWithoutARestart() throws Exception {
    TlsIntegration it = integration();
    MaterialPublisher source = new MaterialPublisher();
    try (TlsIntegration.Server server = it.server(source, policy(), PeerPolicy.anySpiffeId(), NONE)) {
      OutsidePeer.Result before = it.ask(outside(client(ca)), server.port());
      assertThat(before.succeeded()).as("before the first material: " + before).isFalse();
      source.publish(new MtlsMaterial(server(ca), trust, 1));
      Awaitility.await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
          assertThat(it.ask(outside(client(ca)), server.port()).firstLine()).isEqualTo(it.okLine()));
    }
  }

  // ---------------------------------------------------------------- rotation under load

  @Test
  void renewalsAndACaRotationUnderLoadFailNoCall() throws Exception {
    TlsIntegration it = integration();
    TestCa next = TestCa.create("conformance next CA");
    TrustBundle both = new TrustBundle(List.of(ca.certificate(), next.certificate()), "conformance@2");
    TrustBundle onlyNext = new TrustBundle(List.of(next.certificate()), "conformance@3");
    MaterialPublisher serverSource = serverSource(ca, trust);
    MaterialPublisher clientSource = clientSource(ca, trust);
    List<String> failures = new CopyOnWriteArrayList<>();
    AtomicLong calls = new AtomicLong();
    AtomicBoolean stop = new AtomicBoolean();
    ExecutorService load = Executors.newFixedThreadPool(WORKERS);
    // Each step of a rotation waits until every worker has finished a call begun after the previous
    // step (settle()), as a signer lets hours pass between the steps of a CA rotation.
    AtomicInteger phase = new AtomicInteger();
    AtomicIntegerArray finished = new AtomicIntegerArray(WORKERS);
    long generation = 1;
    try (TlsIntegration.Server server = it.server(serverSource, policy(), PeerPolicy.anySpiffeId(), NONE);
        TlsIntegration.Client client = it.client(clientSource, policy(), PeerPolicy.anySpiffeId(), NONE)) {
      List<Future<?>> workers = new ArrayList<>();
      for (int w = 0; w < WORKERS; w++) {
        int worker = w;
        workers.add(load.submit(() -> {
          while (!stop.get()) {
            int begunIn = phase.get();
            try {
              String line = client.call(server.port());
              if (!it.okLine().equals(line)) {
                failures.add("answer " + line);
              }
              calls.incrementAndGet();
            } catch (Exception e) {
              failures.add(e.toString());
            }
            finished.accumulateAndGet(worker, begunIn, Math::max);
          }
        }));
      }
      // Three renewals on each side under the first CA.
      for (int i = 0; i < 3; i++) {
        generation++;
        TlsIdentity renewed = server(ca);
        serverSource.publish(new MtlsMaterial(renewed, trust, generation));
        clientSource.publish(new MtlsMaterial(client(ca), trust, generation));
        awaitServerPresents(server, renewed.leaf().getSerialNumber(), calls);
        settle(phase, finished);
      }
      // CA rotation with overlap: both trust both, then both move to the next CA, then the first leaves.
      generation++;
      serverSource.publish(new MtlsMaterial(serverSource.current().identity(), both, generation));
      clientSource.publish(new MtlsMaterial(clientSource.current().identity(), both, generation));
      // The next CA's certificates come only after every call begun under the old bundle alone has
      // finished: a connection whose engine was made just before the bundle changed would otherwise
      // meet a certificate it cannot know yet.
      settle(phase, finished);
      generation++;
      TlsIdentity fromNext = server(next);
      serverSource.publish(new MtlsMaterial(fromNext, both, generation));
      clientSource.publish(new MtlsMaterial(client(next), both, generation));
      awaitServerPresents(server, fromNext.leaf().getSerialNumber(), calls);
      settle(phase, finished);
      generation++;
      serverSource.publish(new MtlsMaterial(fromNext, onlyNext, generation));
      clientSource.publish(new MtlsMaterial(clientSource.current().identity(), onlyNext, generation));
      long before = calls.get();
      Awaitility.await().atMost(LOAD_STEP).until(() -> calls.get() >= before + 20);
      stop.set(true);
      for (Future<?> f : workers) {
        f.get(LOAD_STEP.toSeconds(), TimeUnit.SECONDS);
      }
      System.out.printf("[conformance] %s: %d calls through 3 renewals on each side and a CA rotation, %d failed%n",
          it.name(), calls.get(), failures.size());
      assertThat(failures).as("failed calls out of " + calls.get()).isEmpty();
      assertThat(calls.get()).isGreaterThan(20);
      // The first CA has left the server's bundle: a certificate it issued is refused now.
      OutsidePeer.Result old = outside(client(ca)).refusal(server.port());
      assertThat(old.succeeded()).as("a client certificate from the CA that left: " + old).isFalse();
      assertThat(it.ask(outside(client(next), next), server.port()).firstLine()).isEqualTo(it.okLine());
    } finally {
      stop.set(true);
      load.shutdownNow();
    }
  }

  /** Starts a new phase and waits until every worker has finished a call begun in it. */
  private static void settle(AtomicInteger phase, AtomicIntegerArray finished) {
    int p = phase.incrementAndGet();
    Awaitility.await().atMost(LOAD_STEP).until(() -> {
      for (int w = 0; w < finished.length(); w++) {
        if (finished.get(w) < p) {
          return false;
        }
      }
      return true;
    });
  }

  /** Waits until a new connection is served with the certificate {@code serial}, while calls go on. */
  private void awaitServerPresents(TlsIntegration.Server server, BigInteger serial, AtomicLong calls) {
    Awaitility.await().atMost(LOAD_STEP).untilAsserted(() -> {
      OutsidePeer.Result r = new OutsidePeer(null, List.of()).refusal(server.port());
      assertThat(r.server()).as(r.toString()).isNotNull();
      assertThat(r.server().getSerialNumber()).isEqualTo(serial);
    });
    long seen = calls.get();
    Awaitility.await().atMost(LOAD_STEP).until(() -> calls.get() > seen + 5);
  }

  // ---------------------------------------------------------------- material

  protected MaterialPublisher serverSource(TestCa issuer, TrustBundle bundle) {
    return new MaterialPublisher(new MtlsMaterial(server(issuer), bundle, 1));
  }

  protected MaterialPublisher clientSource(TestCa issuer, TrustBundle bundle) {
    return new MaterialPublisher(new MtlsMaterial(client(issuer), bundle, 1));
  }

  protected static TlsIdentity server(TestCa issuer) {
    return identity(issuer, b -> b.commonName(SERVER_SA).spiffe(SERVER_NS, SERVER_SA).dns("api.payments.svc")
        .ip("127.0.0.1"));
  }

  protected static TlsIdentity client(TestCa issuer) {
    return identity(issuer, b -> b.commonName(CLIENT_SA).spiffe(CLIENT_NS, CLIENT_SA));
  }

  protected static TlsIdentity identity(TestCa issuer, UnaryOperator<TestCa.LeafBuilder> spec) {
    KeyPair keys = TestCa.newKeyPair();
    return new TlsIdentity(keys.getPrivate(), List.of(spec.apply(issuer.leaf(keys.getPublic())).build()), 1);
  }

  private TlsIdentity rsa(UnaryOperator<TestCa.LeafBuilder> spec) throws Exception {
    KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
    g.initialize(2048);
    KeyPair keys = g.generateKeyPair();
    return new TlsIdentity(keys.getPrivate(), List.of(spec.apply(ca.leaf(keys.getPublic())).build()), 1);
  }

  private OutsidePeer outside(TlsIdentity identity) {
    return new OutsidePeer(identity, List.of(ca.certificate()));
  }

  private OutsidePeer outside(TlsIdentity identity, TestCa trusted) {
    return new OutsidePeer(identity, List.of(trusted.certificate()));
  }

}
