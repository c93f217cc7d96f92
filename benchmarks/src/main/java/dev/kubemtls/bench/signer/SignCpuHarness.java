package dev.kubemtls.bench.signer;

import dev.kubemtls.signer.internal.CertificateAuthority;
import dev.kubemtls.signer.internal.ValidityPolicy;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.InstantSource;
import java.util.List;
import java.util.Locale;

/**
 * CPU of the CA's whole path for one CSR (not a test): {@code CertificateAuthority.sign(pem, ...)}
 * parses the PEM, applies the request rules, verifies the signature and signs the certificate. The
 * requests are those of {@link SignerLoadHarness} (P-256, a SPIFFE ID and a DNS name). Thread CPU
 * time of one thread, best of {@code rounds} rounds, after {@code warmup} signatures; the native
 * signatures (ACCP) run on the calling thread, so they are counted.
 *
 * <p>Arguments (optional): {@code requests} (500), {@code warmup} (15000), {@code rounds} (5),
 * {@code perRound} (2000). {@code -Dkube-mtls.signer.native-crypto=false} measures BouncyCastle's
 * arithmetic; an older mtls-signer jar first on the class path measures that signer.
 */
public final class SignCpuHarness {

  private SignCpuHarness() {}

  public static void main(String[] args) throws Exception {
    int requests = args.length > 0 ? Integer.parseInt(args[0]) : 500;
    int warmup = args.length > 1 ? Integer.parseInt(args[1]) : 15_000;
    int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 5;
    int perRound = args.length > 3 ? Integer.parseInt(args[3]) : 2000;
    CertificateAuthority ca = CertificateAuthority.generate("bench", Duration.ofDays(1), ValidityPolicy.DEFAULT,
        InstantSource.system(), new SecureRandom());
    List<String> pems = SignerLoadHarness.csrs(requests, "spiffe://cluster.local/ns/bench/sa/web", "web.bench.svc");
    List<String> usages = List.of("digital signature", "server auth", "client auth");
    for (int i = 0; i < warmup; i++) {
      ca.sign(pems.get(i % pems.size()), usages, 600);
    }
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    long best = Long.MAX_VALUE;
    for (int round = 0; round < rounds; round++) {
      long start = threads.getCurrentThreadCpuTime();
      for (int i = 0; i < perRound; i++) {
        ca.sign(pems.get(i % pems.size()), usages, 600);
      }
      best = Math.min(best, (threads.getCurrentThreadCpuTime() - start) / perRound);
    }
    System.out.printf(Locale.ROOT, "CPU per CSR parsed, checked, verified and signed: %.1f µs (best of %d rounds of %d,"
        + " after %d; %s)%n", best / 1000.0, rounds, perRound, warmup,
        describe());
  }

  private static String describe() {
    try {
      return (String) dev.kubemtls.signer.internal.Crypto.class.getMethod("describe").invoke(null);
    } catch (ReflectiveOperationException e) {
      // An older signer on the class path: BouncyCastle.
      return "BouncyCastle (a signer without native crypto)";
    }
  }
}
