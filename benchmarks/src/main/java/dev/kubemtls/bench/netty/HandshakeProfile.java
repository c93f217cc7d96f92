package dev.kubemtls.bench.netty;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordedThread;
import jdk.jfr.consumer.RecordingFile;

/**
 * Where the event loops' CPU went in a JFR recording of {@link HandshakeHarness}: the
 * {@code jdk.ExecutionSample} and {@code jdk.NativeMethodSample} events of the Netty event-loop
 * threads, without samples of a thread waiting in {@code epoll_wait}, sorted into the parts of a
 * handshake (a sample counts for every part whose frame is on its stack), then the top frames.
 *
 * <p>Record with native samples as often as Java ones (the {@code profile} settings sample native
 * code every 20 ms and Java code every 10 ms), e.g. a copy of {@code $JAVA_HOME/lib/jfr/profile.jfc}
 * with {@code method-sampling-native-interval} set to 10 ms:
 * {@code java -XX:StartFlightRecording=filename=hs.jfr,settings=hs.jfc ... HandshakeHarness 3 2 5 4
 * "OPENSSL ServerTls+ClientTls"}, then {@code HandshakeProfile hs.jfr [topFrames]}.
 */
public final class HandshakeProfile {

  private static final Map<String, List<String>> PARTS = new LinkedHashMap<>();

  static {
    PARTS.put("BoringSSL (native SSL calls: handshake crypto, record layer)", List.of("io.netty.internal.tcnative.SSL."));
    PARTS.put("trust manager callback (Netty's CertificateVerifier, all of it)", List.of("AbstractCertificateVerifier.verify"));
    PARTS.put("  JDK PKIX validation (X509TrustManagerImpl)", List.of("sun.security.ssl.X509TrustManagerImpl.check"));
    PARTS.put("  kube-mtls verified-chain cache", List.of("dev.kubemtls.core.internal.VerifiedChains"));
    PARTS.put("Java certificate parsing (X509CertImpl, CertificateFactory)", List.of("sun.security.x509.X509CertImpl.<init>", "sun.security.provider.X509Factory"));
    PARTS.put("certificate compression (zlib deflate/inflate in Java)", List.of("java.util.zip.Deflater", "java.util.zip.Inflater"));
    PARTS.put("client key selection per handshake (Netty key manager)", List.of("OpenSslKeyMaterialManager"));
    PARTS.put("peer identity and policy after the handshake", List.of("PeerVerifier.verifiedPeer", "PeerPolicy.denialReason"));
    PARTS.put("engine creation (SslContext.newHandler)", List.of("SslContext.newHandler"));
    PARTS.put("JDK TLS: EC arithmetic (SunEC field math)", List.of("sun.security.util.math.intpoly"));
    PARTS.put("  ECDSA sign (own CertificateVerify)", List.of("ECDSASignature.engineSign"));
    PARTS.put("  ECDSA verify (peer's CertificateVerify, chain signatures)", List.of("ECDSASignature.engineVerify"));
    PARTS.put("  X25519 (key share, agreement)", List.of("sun.security.ec.XDH"));
    PARTS.put("  P-256 key pair generated per handshake (second key share)", List.of("ECDHKeyExchange$ECDHEPossession.<init>"));
    PARTS.put("socket system calls (connect, write, close, ...)", List.of("sun.nio.ch.FileDispatcherImpl", "sun.nio.ch.Net.", "sun.nio.ch.EPoll.ctl"));
  }

  private HandshakeProfile() {}

  public static void main(String[] args) throws Exception {
    Path file = Path.of(args[0]);
    int top = args.length > 1 ? Integer.parseInt(args[1]) : 20;
    List<List<String>> samples = new ArrayList<>();
    for (RecordedEvent e : RecordingFile.readAllEvents(file)) {
      String type = e.getEventType().getName();
      if (!type.equals("jdk.ExecutionSample") && !type.equals("jdk.NativeMethodSample")) {
        continue;
      }
      RecordedThread thread = e.getThread("sampledThread");
      if (thread == null || thread.getJavaName() == null || !thread.getJavaName().contains("EventLoop")
          || e.getStackTrace() == null) {
        continue;
      }
      List<String> frames = new ArrayList<>();
      for (RecordedFrame f : e.getStackTrace().getFrames()) {
        frames.add(f.getMethod().getType().getName() + "." + f.getMethod().getName());
      }
      if (frames.isEmpty() || frames.get(0).equals("sun.nio.ch.EPoll.wait")) {
        continue;
      }
      samples.add(frames);
    }
    int n = samples.size();
    System.out.printf(Locale.ROOT, "%s: %d busy event-loop samples%n", file.getFileName(), n);
    for (Map.Entry<String, List<String>> part : PARTS.entrySet()) {
      long c = samples.stream().filter(s -> s.stream().anyMatch(
          f -> part.getValue().stream().anyMatch(f::contains))).count();
      System.out.printf(Locale.ROOT, "  %-68s %5.1f %%%n", part.getKey(), 100.0 * c / Math.max(n, 1));
    }
    Map<String, Integer> self = new HashMap<>();
    samples.forEach(s -> self.merge(s.get(0), 1, Integer::sum));
    System.out.println("top frames:");
    self.entrySet().stream().sorted(Map.Entry.<String, Integer>comparingByValue().reversed()).limit(top)
        .forEach(en -> System.out.printf(Locale.ROOT, "  %5.1f %%  %s%n", 100.0 * en.getValue() / n, en.getKey()));
  }
}
