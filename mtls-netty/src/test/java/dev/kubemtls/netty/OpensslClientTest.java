package dev.kubemtls.netty;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.ClientAuth;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.testkit.TestCa;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The outside probe of the audit, with the real {@code openssl s_client} (Debian package
 * {@code openssl}): a TLS 1.2 client that offers only ECDSA+SHA1 gets no SHA-1 signature from a
 * {@link ServerTls} (before, BoringSSL signed its key exchange with it: "Peer signing digest: SHA1");
 * and a client certificate without a SPIFFE ID is refused with an alert, in TLS 1.2 and 1.3.
 */
class OpensslClientTest {

  private static final TestCa CA = TestCa.create("kube-mtls test CA");
  @RegisterExtension
  static final Echo.Loops LOOPS = new Echo.Loops();

  @TempDir
  Path dir;

  private String sClient(int port, String... options) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of("openssl", "s_client", "-connect", "127.0.0.1:" + port,
        "-CAfile", "ca.pem", "-ign_eof"));
    command.addAll(List.of(options));
    Path out = Files.createTempFile(dir, "s_client", ".txt");
    Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
        .redirectOutput(out.toFile()).start();
    try {
      p.getOutputStream().write("hello\n".getBytes(StandardCharsets.UTF_8));
      p.getOutputStream().close();
    } catch (IOException e) {
      // s_client has already ended: its output says why
    }
    if (!p.waitFor(Echo.TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
      p.destroy();
      p.waitFor(Echo.TIMEOUT.toSeconds(), TimeUnit.SECONDS);
    }
    return Files.readString(out);
  }

  private static ServerTls.Builder server(TlsProvider provider) {
    return NettyMtls.forServer(new MaterialPublisher(new MtlsMaterial(Pki.server(CA, 1), Pki.trust("t@1", CA), 1)))
        .provider(provider);
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aTls12ClientOfferingOnlySha1GetsNoSha1Signature(TlsProvider provider) throws Exception {
    Files.writeString(dir.resolve("ca.pem"), CA.certificatePem());
    // No client certificate needed, so that the handshake stands or falls on the server's signature.
    try (ServerTls tls = server(provider).policy(TlsPolicy.defaults().withClientAuth(ClientAuth.OPTIONAL))
            .peerPolicy(PeerPolicy.allowAll()).build();
        Echo.Server echo = new Echo.Server(LOOPS.group(), tls)) {
      String sha256 = sClient(echo.port(), "-tls1_2", "-sigalgs", "ECDSA+SHA256");
      assertThat(sha256).contains("Peer signing digest: SHA256").contains("hello");

      // SECLEVEL=0: OpenSSL 3 itself refuses SHA-1 signatures at its default level.
      String sha1 = sClient(echo.port(), "-tls1_2", "-sigalgs", "ECDSA+SHA1", "-cipher", "DEFAULT@SECLEVEL=0");
      assertThat(sha1).doesNotContain("Peer signing digest: SHA1").doesNotContain("\nhello")
          .containsPattern("alert (internal error|handshake failure)");
    }
  }

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aClientCertificateWithoutSpiffeIdIsRefusedWithAnAlert(TlsProvider provider) throws Exception {
    TlsIdentity legacy = Pki.identity(CA, 1, b -> b.commonName("legacy").dns("legacy.shop.svc"));
    Files.writeString(dir.resolve("ca.pem"), CA.certificatePem());
    Files.writeString(dir.resolve("legacy.pem"), TestCa.toPem(legacy.chain().get(0)));
    Files.writeString(dir.resolve("legacy.key"), TestCa.toPem(legacy.privateKey()));
    try (ServerTls tls = server(provider).build(); Echo.Server echo = new Echo.Server(LOOPS.group(), tls)) {
      for (String version : new String[] {"-tls1_2", "-tls1_3"}) {
        String out = sClient(echo.port(), version, "-cert", "legacy.pem", "-key", "legacy.key");
        assertThat(out).as(version).doesNotContain("\nhello")
            .contains(provider == TlsProvider.OPENSSL ? "alert bad certificate" : "alert certificate unknown");
      }
    }
  }
}
