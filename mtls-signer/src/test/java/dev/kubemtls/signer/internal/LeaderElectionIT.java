package dev.kubemtls.signer.internal;

import static dev.kubemtls.signer.internal.SignerFixture.SERVER_CLIENT;
import static dev.kubemtls.signer.internal.SignerFixture.SIGNER_NAME;
import static dev.kubemtls.signer.internal.SignerFixture.createCsr;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import java.math.BigInteger;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Two replicas, one Lease: the leader is closed while CSRs keep coming; none is lost, none signed twice. */
class LeaderElectionIT {

  private static final int CSRS = 40;

  @Test
  void aStandbyTakesOverWhenTheLeaderGoesAwayAndNothingIsLostOrSignedTwice() throws Exception {
    SignerFixture fx = SignerFixture.get();
    Signer standby = fx.startReplica();
    Signer leader = fx.awaitLeader();
    Signer other = leader == standby ? fx.replicas.get(0) : standby;
    assertThat(other.isLeader()).isFalse();
    SignerFixture.Workload web = fx.workload("ha-it");

    List<String> names = new CopyOnWriteArrayList<>();
    CountDownLatch halfway = new CountDownLatch(CSRS / 4);
    ExecutorService producer = Executors.newSingleThreadExecutor();
    Future<?> produced = producer.submit(() -> {
      for (int i = 0; i < CSRS; i++) {
        names.add(createCsr(web.client(), SIGNER_NAME, TestCsr.builder().uri(web.spiffeId()).pem(), SERVER_CLIENT));
        halfway.countDown();
      }
    });
    assertThat(halfway.await(60, TimeUnit.SECONDS)).isTrue();
    leader.close();
    fx.replicas.remove(leader);
    assertThat(leader.isLeader()).isFalse();
    produced.get(120, TimeUnit.SECONDS);
    producer.shutdown();

    assertThat(fx.awaitLeader()).isSameAs(other);
    Set<BigInteger> serials = new HashSet<>();
    for (String name : names) {
      CertificateSigningRequest done = fx.awaitFinal(name);
      assertThat(done.getStatus().getCertificate()).as(name).isNotEmpty();
      serials.add(SignerFixture.certificateOf(done).getSerialNumber());
      // Exactly one issuance reached the API server for each CSR, across both replicas. (A replica's
      // listener hears of an issuance after the write returned, so possibly after the CSR shows it.)
      org.awaitility.Awaitility.await("the issued() event of " + name).atMost(java.time.Duration.ofSeconds(10))
          .until(() -> fx.issued.get(name) != null);
      assertThat(fx.issued.get(name)).as("issuances of " + name).hasSize(1);
      assertThat(fx.issued.get(name).get(0)).isEqualTo(SignerFixture.certificateOf(done));
    }
    assertThat(serials).hasSize(CSRS);
  }
}
