package dev.kubemtls.servlet;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.TestCa;
import java.time.Duration;
import java.time.Instant;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.http.HttpHeader;
import org.junit.jupiter.api.Test;

/**
 * A pooled client connection keeps presenting the certificate it was made with after that
 * certificate is renewed; once it has expired, the filter serves the request and closes the
 * connection with the response, so the next request comes on a new connection with the renewed
 * certificate, and nothing fails.
 */
class ExpiredPeerConnectionTest {

  @Test
  void aKeptAliveConnectionWhoseClientCertificateExpiredEndsAfterOneMoreResponse() throws Exception {
    TestCa ca = TestCa.create("kube-mtls test CA");
    TrustBundle trust = Pki.bundle("test/bundle@1", ca);
    MutableClock clock = MutableClock.startingNow();
    Instant start = clock.instant();
    MaterialPublisher clientSource = new MaterialPublisher(new MtlsMaterial(Pki.identity(ca, 1,
        b -> b.spiffe("billing", "invoicer").validity(start.minusSeconds(60), Duration.ofMinutes(30))), trust, 1));
    MtlsPeerFilter filter = MtlsPeerFilter.builder().clock(clock).build();
    try (TestServer server = new TestServer(new MaterialPublisher(Pki.material(ca, "payments", "api", trust)),
            b -> b, new org.eclipse.jetty.ee10.servlet.FilterHolder(filter));
        RecordingClient client = new RecordingClient(clientSource)) {
      java.net.URI uri = server.uri("/x");
      ContentResponse first = client.get(uri, false);
      ContentResponse second = client.get(uri, false);
      assertThat(first.getStatus()).isEqualTo(200);
      assertThat(second.getStatus()).isEqualTo(200);
      assertThat(second.getHeaders().get(HttpHeader.CONNECTION)).isNull();
      assertThat(client.handshakes).as("one kept-alive connection").hasValue(1);

      // The client renews (a day's certificate); its pooled connection still has the first one.
      clientSource.publish(new MtlsMaterial(Pki.identity(ca, 2,
          b -> b.spiffe("billing", "invoicer").validity(start.minusSeconds(60), Duration.ofDays(1))), trust, 2));
      ContentResponse beforeExpiry = client.get(uri, false);
      assertThat(beforeExpiry.getHeaders().get(HttpHeader.CONNECTION)).isNull();
      assertThat(client.handshakes).as("still the first connection").hasValue(1);

      clock.advance(Duration.ofMinutes(45));
      ContentResponse afterExpiry = client.get(uri, false);
      assertThat(afterExpiry.getStatus()).as("served, not refused").isEqualTo(200);
      assertThat(afterExpiry.getHeaders().get(HttpHeader.CONNECTION)).isEqualTo("close");

      ContentResponse next = client.get(uri, false);
      assertThat(next.getStatus()).isEqualTo(200);
      assertThat(client.handshakes).as("a new connection, with the renewed certificate").hasValue(2);
      assertThat(next.getHeaders().get(HttpHeader.CONNECTION)).as("its certificate is current").isNull();
      assertThat(server.servletCalls).hasValue(5);
    }
  }
}
