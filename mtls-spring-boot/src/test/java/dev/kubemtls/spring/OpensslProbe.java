package dev.kubemtls.spring;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.testkit.TestCa;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The outside probe of the audit, with the real {@code openssl s_client} (Debian package
 * {@code openssl}), against a running {@link MtlsApp}: one HTTP/1.1 request per connection, and
 * the whole s_client transcript back. The same assertions run for Tomcat, Reactor Netty and Jetty,
 * so the {@code TlsPolicy} and the peer policy mean the same on each.
 */
final class OpensslProbe {

  private static final Duration TIMEOUT = Duration.ofSeconds(20);

  private final MtlsApp app;
  private final Path dir;

  OpensslProbe(MtlsApp app, Path dir) throws IOException {
    this.app = app;
    this.dir = dir;
    StringBuilder cas = new StringBuilder();
    app.cas.forEach(ca -> cas.append(ca.certificatePem()));
    Files.writeString(dir.resolve("ca.pem"), cas);
    write("frontend", app.frontend.current().identity());
    // Issued now by the CA the application trusts now (the tests may have rotated it).
    TestCa current = app.cas.get(app.cas.size() - 1);
    write("intruder", app.issue(current, List.of(current), "intruder", Duration.ofHours(1)).identity());
    TestCa foreign = TestCa.create("some other CA");
    MtlsMaterial stranger = app.issue(foreign, List.of(foreign), "frontend", Duration.ofHours(1));
    write("stranger", stranger.identity());
  }

  private void write(String name, TlsIdentity identity) throws IOException {
    StringBuilder chain = new StringBuilder();
    identity.chain().forEach(c -> chain.append(TestCa.toPem(c)));
    Files.writeString(dir.resolve(name + ".pem"), chain);
    Files.writeString(dir.resolve(name + ".key"), TestCa.toPem(identity.privateKey()));
  }

  /** A GET of /whoami as {@code caller} (a name given to the constructor, or null for no certificate). */
  String get(String caller, String... options) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of("openssl", "s_client", "-connect", "127.0.0.1:" + app.port,
        "-servername", "localhost", "-CAfile", "ca.pem", "-ign_eof"));
    if (caller != null) {
      command.addAll(List.of("-cert", caller + ".pem", "-key", caller + ".key"));
    }
    command.addAll(List.of(options));
    Path out = Files.createTempFile(dir, "s_client", ".txt");
    Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
        .redirectOutput(out.toFile()).start();
    try {
      p.getOutputStream().write("GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
          .getBytes(StandardCharsets.US_ASCII));
      p.getOutputStream().close();
    } catch (IOException e) {
      // s_client has already ended: its output says why
    }
    if (!p.waitFor(TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
      p.destroy();
      p.waitFor(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    }
    return Files.readString(out);
  }

  private static void assertServed(String transcript, String what) {
    assertThat(transcript).as(what).contains("HTTP/1.1 200")
        .contains("spiffe://cluster.local/ns/shop/sa/frontend");
  }

  private static void assertRefused(String transcript, String what) {
    assertThat(transcript).as(what).doesNotContain("HTTP/1.1 200").doesNotContain("spiffe://");
  }

  /**
   * The policy's signature schemes and groups, in both TLS versions: a client offering only what the
   * policy leaves out (SHA-1 signatures; X448, P-521 or finite-field groups) is refused, the same
   * client offering what it allows is served.
   */
  void assertTheTlsPolicyHolds() throws Exception {
    assertServed(get("frontend", "-tls1_2", "-sigalgs", "ECDSA+SHA256"), "TLS 1.2 with ECDSA+SHA256");
    assertServed(get("frontend", "-tls1_3"), "TLS 1.3");
    // SECLEVEL=0: OpenSSL 3 itself refuses SHA-1 signatures at its default level.
    String sha1 = get("frontend", "-tls1_2", "-sigalgs", "ECDSA+SHA1", "-cipher", "DEFAULT@SECLEVEL=0");
    assertRefused(sha1, "TLS 1.2 limited to ECDSA+SHA1");
    assertThat(sha1).doesNotContain("Peer signing digest: SHA1");
    // In TLS 1.2 the groups also name the curves of ECDSA certificates: the P-256 one needs P-256.
    assertServed(get("frontend", "-tls1_2", "-groups", "P-256"), "TLS 1.2 P-256");
    assertServed(get("frontend", "-tls1_2", "-groups", "X25519:P-256"), "TLS 1.2 X25519:P-256");
    assertServed(get("frontend", "-tls1_3", "-groups", "X25519"), "TLS 1.3 X25519");
    assertServed(get("frontend", "-tls1_3", "-groups", "P-256"), "TLS 1.3 P-256");
    for (String version : new String[] {"-tls1_2", "-tls1_3"}) {
      for (String group : new String[] {"X448", "P-521", "ffdhe2048", "ffdhe3072"}) {
        String r = get("frontend", version, "-groups", group, "-cipher", "DEFAULT@SECLEVEL=0");
        assertRefused(r, version + " limited to " + group);
        assertThat(r).as(version + " " + group).doesNotContain("Server Temp Key");
      }
    }
  }

  /**
   * The peer policy: a caller outside it gets 403 with the reason, one whose certificate a CA
   * outside the trust bundle issued is refused in the handshake, one without a certificate too.
   */
  void assertThePeerPolicyHolds() throws Exception {
    String intruder = get("intruder", "-tls1_3");
    assertThat(intruder).contains("HTTP/1.1 403")
        .contains("peer spiffe://cluster.local/ns/other/sa/intruder is not in the allow-list");
    for (String version : new String[] {"-tls1_2", "-tls1_3"}) {
      assertRefused(get("stranger", version), version + " with a certificate from a foreign CA");
      assertRefused(get(null, version), version + " without a certificate");
    }
  }
}
