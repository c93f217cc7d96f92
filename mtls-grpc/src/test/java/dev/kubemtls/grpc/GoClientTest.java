package dev.kubemtls.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.netty.TlsProvider;
import dev.kubemtls.testkit.TestCa;
import io.grpc.Server;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A Go gRPC client (grpc-go, crypto/tls) calls the Java server: with a certificate from the cluster
 * CA it gets in and the server sees its SPIFFE ID; outside the allow-list it gets PERMISSION_DENIED
 * with the reason; without a certificate it does not get in.
 */
class GoClientTest {

  @TempDir
  Path dir;

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void aGoClientCallsTheJavaServer(TlsProvider provider) throws Exception {
    TestCa ca = TestCa.create("cluster CA");
    MaterialPublisher serverSource = new MaterialPublisher(Pki.material(Pki.server(ca, 1), Pki.trust("v1", ca)));
    try (GrpcServerTls tls = GrpcMtls.forServer(serverSource).provider(provider)
        .peerPolicy(PeerPolicy.builder().allowServiceAccount("shop", "web").build()).build()) {
      Server server = tls.newServerBuilder(new InetSocketAddress("127.0.0.1", 0)).addService(new Echo()).build().start();
      String addr = "127.0.0.1:" + server.getPort();
      try {
        Path allowed = Files.createDirectory(dir.resolve("web"));
        GoPeer.writePem(Pki.material(Pki.client(ca, 1), Pki.trust("v1", ca)), allowed);
        GoPeer.Result ok = GoPeer.call(addr, "orders.shop.svc", allowed, true, "hi from go");
        assertThat(ok.exitCode()).as(ok.output()).isZero();
        assertThat(ok.output()).isEqualTo("OK hi from go|spiffe://cluster.local/ns/shop/sa/web|"
            + serverSource.current().identity().leaf().getSerialNumber().toString(16));

        Path other = Files.createDirectory(dir.resolve("batch"));
        GoPeer.writePem(Pki.material(Pki.identity(ca, 1, b -> b.commonName("batch").spiffe("shop", "batch")),
            Pki.trust("v1", ca)), other);
        GoPeer.Result denied = GoPeer.call(addr, "orders.shop.svc", other, true, "hi");
        assertThat(denied.exitCode()).as(denied.output()).isEqualTo(1);
        assertThat(denied.output()).isEqualTo(
            "STATUS PermissionDenied kube-mtls: peer spiffe://cluster.local/ns/shop/sa/batch is not in the allow-list");

        GoPeer.Result noCert = GoPeer.call(addr, "orders.shop.svc", allowed, false, "hi");
        assertThat(noCert.exitCode()).as(noCert.output()).isEqualTo(1);
        // BoringSSL says certificate_required, the JDK bad_certificate; the server closes right after
        // its alert, so the Go client, writing its HTTP/2 preface, may see the closed socket first.
        assertThat(noCert.output()).startsWith("STATUS Unavailable").containsAnyOf(
            provider == TlsProvider.OPENSSL ? "remote error: tls: certificate required" : "remote error: tls: bad certificate",
            "write: broken pipe", "connection reset by peer");

        // The Go client checks the name too: the server's certificate does not carry billing.shop.svc.
        GoPeer.Result wrongName = GoPeer.call(addr, "billing.shop.svc", allowed, true, "hi");
        assertThat(wrongName.exitCode()).as(wrongName.output()).isEqualTo(1);
        assertThat(wrongName.output()).startsWith("STATUS Unavailable").contains("billing.shop.svc");
      } finally {
        server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
      }
    }
  }
}
