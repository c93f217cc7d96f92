package dev.kubemtls.bench.signer;

import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.signer.internal.ApprovalPolicy;
import dev.kubemtls.signer.internal.CertificateAuthority;
import dev.kubemtls.signer.internal.CertificateRequest;
import dev.kubemtls.signer.internal.ClusterView;
import dev.kubemtls.signer.internal.ParsedCsr;
import dev.kubemtls.signer.internal.Requester;
import dev.kubemtls.signer.internal.ValidityPolicy;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.X509EncodedKeySpec;
import java.time.Duration;
import java.time.InstantSource;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.bouncycastle.asn1.ASN1Encoding;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.ExtensionsGenerator;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What one CSR costs the signer's CPU, path by path (JMH, single thread):
 * <ul>
 *   <li>{@code plainJdkVerify}: the baseline, one JDK (SunEC) P-256 verification of a 256-byte message;</li>
 *   <li>{@code bcOperatorJdk} / {@code bcOperatorBcProvider}: BouncyCastle's
 *       {@code PKCS10CertificationRequest.isSignatureValid} through its operator layer, with the JDK's
 *       or BouncyCastle's provider (what the signer did before, twice per CSR);</li>
 *   <li>{@code directJdk} / {@code directBc}: {@link Signature} over the DER of the request info, JDK
 *       or BouncyCastle provider (the JDK's is what {@link ParsedCsr} uses now);</li>
 *   <li>{@code parseAndVerify}: {@link ParsedCsr#parse} of the PEM plus its one check;</li>
 *   <li>{@code approveAndSignTwice}: the former flow, the policy and the CA each parsing and
 *       verifying the PEM; {@code approveAndSignOnce}: one parsed request carried from the policy to
 *       the CA.</li>
 * </ul>
 *
 * <pre>
 * java -cp benchmarks/target/classes:$(cat benchmarks/target/cp.txt) org.openjdk.jmh.Main CsrVerifyBenchmark
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class CsrVerifyBenchmark {

  private static final List<String> USAGES = List.of("digital signature", "server auth", "client auth");
  private static final String SPIFFE = "spiffe://cluster.local/ns/shop/sa/web";

  private final BouncyCastleProvider bc = new BouncyCastleProvider();
  private String pem;
  private byte[] der;
  private byte[] info;
  private byte[] signature;
  private PublicKey key;
  private byte[] message;
  private byte[] messageSignature;
  private java.security.PrivateKey privateKey;
  private PublicKey bcKey;
  private java.security.PrivateKey bcPrivateKey;
  /** The native provider the signer uses when ACCP is on the class path (null otherwise). */
  private final java.security.Provider nativeProvider = dev.kubemtls.signer.internal.Crypto.NATIVE;
  private java.security.PrivateKey nativePrivateKey;
  private byte[] spki;
  private ApprovalPolicy policy;
  private CertificateAuthority ca;
  private Requester requester;
  private final ClusterView cluster = new ClusterView() {
    @Override
    public Optional<PodInfo> pod(String namespace, String name) {
      return Optional.empty();
    }

    @Override
    public List<ServiceInfo> services(String namespace) {
      return List.of();
    }
  };

  @Setup
  public void setUp() throws Exception {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"));
    KeyPair kp = g.generateKeyPair();
    ExtensionsGenerator ext = new ExtensionsGenerator();
    ext.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(new GeneralName[] {
        new GeneralName(GeneralName.uniformResourceIdentifier, SPIFFE),
        new GeneralName(GeneralName.dNSName, "web.shop.svc")}));
    var request = new JcaPKCS10CertificationRequestBuilder(new X500Name(""), kp.getPublic())
        .addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, ext.generate())
        .build(new JcaContentSignerBuilder("SHA256withECDSA").build(kp.getPrivate()));
    der = request.getEncoded();
    pem = Pem.encode("CERTIFICATE REQUEST", der);
    info = request.toASN1Structure().getCertificationRequestInfo().getEncoded(ASN1Encoding.DER);
    signature = request.getSignature();
    key = kp.getPublic();
    message = new byte[256];
    new SecureRandom().nextBytes(message);
    Signature s = Signature.getInstance("SHA256withECDSA");
    s.initSign(kp.getPrivate());
    s.update(message);
    messageSignature = s.sign();
    privateKey = kp.getPrivate();
    bcKey = (PublicKey) KeyFactory.getInstance("EC", bc).translateKey(key);
    bcPrivateKey = (java.security.PrivateKey) KeyFactory.getInstance("EC", bc).translateKey(privateKey);
    spki = key.getEncoded();
    if (nativeProvider != null) {
      nativePrivateKey = KeyFactory.getInstance("EC", nativeProvider)
          .generatePrivate(new java.security.spec.PKCS8EncodedKeySpec(privateKey.getEncoded()));
    }
    // Loose: a SPIFFE-only request needs no lookups, so the figure is the crypto and parsing alone.
    policy = ApprovalPolicy.loose("cluster.local", "cluster.local");
    ca = CertificateAuthority.generate("bench", Duration.ofDays(1), ValidityPolicy.DEFAULT, InstantSource.system(),
        new SecureRandom());
    requester = new Requester("system:serviceaccount:shop:web", "uid", List.of("system:serviceaccounts",
        "system:serviceaccounts:shop", "system:authenticated"), Map.of());
  }

  @Benchmark
  public boolean plainJdkVerify() throws Exception {
    Signature s = Signature.getInstance("SHA256withECDSA");
    s.initVerify(key);
    s.update(message);
    return s.verify(messageSignature);
  }

  @Benchmark
  public boolean bcOperatorJdk() throws Exception {
    JcaPKCS10CertificationRequest r = new JcaPKCS10CertificationRequest(der);
    return r.isSignatureValid(new JcaContentVerifierProviderBuilder().build(r.getPublicKey()));
  }

  @Benchmark
  public boolean bcOperatorBcProvider() throws Exception {
    JcaPKCS10CertificationRequest r = new JcaPKCS10CertificationRequest(der).setProvider(bc);
    return r.isSignatureValid(new JcaContentVerifierProviderBuilder().setProvider(bc).build(r.getPublicKey()));
  }

  @Benchmark
  public boolean directJdk() throws Exception {
    Signature s = Signature.getInstance("SHA256withECDSA");
    s.initVerify(key);
    s.update(info);
    return s.verify(signature);
  }

  @Benchmark
  public boolean directBc() throws Exception {
    Signature s = Signature.getInstance("SHA256withECDSA", bc);
    s.initVerify(key);
    s.update(info);
    return s.verify(signature);
  }

  /** As {@link #directBc}, the key first translated into BouncyCastle's own key class (once, in setup). */
  @Benchmark
  public boolean directBcTranslatedKey() throws Exception {
    Signature s = Signature.getInstance("SHA256withECDSA", bc);
    s.initVerify(bcKey);
    s.update(info);
    return s.verify(signature);
  }

  /** The key as a CSR brings it: its SubjectPublicKeyInfo decoded by BouncyCastle's key factory, per CSR. */
  @Benchmark
  public boolean directBcKeyFromSpki() throws Exception {
    PublicKey k = KeyFactory.getInstance("EC", bc).generatePublic(new X509EncodedKeySpec(spki));
    Signature s = Signature.getInstance("SHA256withECDSA", bc);
    s.initVerify(k);
    s.update(info);
    return s.verify(signature);
  }

  /** ACCP (AWS-LC), the key decoded from the request's SubjectPublicKeyInfo: what ParsedCsr does when ACCP is present. */
  @Benchmark
  public boolean directNativeKeyFromSpki() throws Exception {
    PublicKey k = KeyFactory.getInstance("EC", requireNative()).generatePublic(new X509EncodedKeySpec(spki));
    Signature s = Signature.getInstance("SHA256withECDSA", nativeProvider);
    s.initVerify(k);
    s.update(info);
    return s.verify(signature);
  }

  /** ACCP (AWS-LC) with the key decoded once into its key class: what CertificateAuthority does when ACCP is present. */
  @Benchmark
  public byte[] signNative() throws Exception {
    Signature s = Signature.getInstance("SHA256withECDSA", requireNative());
    s.initSign(nativePrivateKey);
    s.update(message);
    return s.sign();
  }

  private java.security.Provider requireNative() {
    if (nativeProvider == null) {
      throw new IllegalStateException("ACCP is not in use: it is not on the class path, did not load here, or"
          + " -Dkube-mtls.signer.native-crypto=false is set");
    }
    return nativeProvider;
  }

  @Benchmark
  public byte[] signBcTranslatedKey() throws Exception {
    Signature s = Signature.getInstance("SHA256withECDSA", bc);
    s.initSign(bcPrivateKey);
    s.update(message);
    return s.sign();
  }

  @Benchmark
  public byte[] signJdk() throws Exception {
    Signature s = Signature.getInstance("SHA256withECDSA");
    s.initSign(privateKey);
    s.update(message);
    return s.sign();
  }

  @Benchmark
  public byte[] signBc() throws Exception {
    Signature s = Signature.getInstance("SHA256withECDSA", bc);
    s.initSign(privateKey);
    s.update(message);
    return s.sign();
  }

  @Benchmark
  public boolean parseAndVerify() {
    return ParsedCsr.parse(pem).signatureValid();
  }

  @Benchmark
  public Object approveAndSignTwice() {
    if (!policy.decide(pem, USAGES, requester, cluster).approved()) {
      throw new IllegalStateException("not approved");
    }
    return ca.sign(pem, USAGES, 600);
  }

  @Benchmark
  public Object approveAndSignOnce() {
    CertificateRequest parsed = CertificateRequest.parse(pem);
    if (!policy.decide(parsed, USAGES, requester, cluster).approved()) {
      throw new IllegalStateException("not approved");
    }
    return ca.sign(parsed, USAGES, 600);
  }
}
