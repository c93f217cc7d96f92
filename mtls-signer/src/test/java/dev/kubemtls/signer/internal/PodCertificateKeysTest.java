package dev.kubemtls.signer.internal;

import dev.kubemtls.core.pki.DerLimits;
import static dev.kubemtls.signer.internal.StubRequests.base64;
import static dev.kubemtls.signer.internal.StubRequests.der;
import static dev.kubemtls.signer.internal.StubRequests.seed;
import static org.assertj.core.api.Assertions.assertThat;

import java.math.BigInteger;
import java.security.KeyPair;
import java.security.KeyFactory;
import java.security.spec.X509EncodedKeySpec;
import java.util.Arrays;
import java.util.Random;
import org.bouncycastle.asn1.DERBitString;
import org.bouncycastle.asn1.DERNull;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link PodCertificateKeys}: the subject key of a PodCertificateRequest from a stub PKCS#10 request
 * (as Go's {@code x509.CreateCertificateRequest} makes it for the kubelet, and as BouncyCastle makes
 * it) or from a PKIX key with its proof of possession (Go-made, as the kubelet of 1.35 sends it), and
 * every way such input can be hostile: a wrong signature, too many bytes, deep nesting, BER, garbage,
 * keys this signer does not issue for.
 */
class PodCertificateKeysTest {

  private static PodCertificateKeys.Problem problem(PodCertificateKeys.Result result) {
    assertThat(result).isInstanceOf(PodCertificateKeys.Problem.class);
    PodCertificateKeys.Problem problem = (PodCertificateKeys.Problem) result;
    // Never the message of the reported bug, which sent the user after a setting that was right.
    assertThat(problem.message()).doesNotContain("is not a PKIX public key");
    assertThat(problem.message().length()).isLessThan(600);
    return problem;
  }

  private static PodCertificateKeys.Key key(PodCertificateKeys.Result result) {
    assertThat(result).as("%s", result).isInstanceOf(PodCertificateKeys.Key.class);
    return (PodCertificateKeys.Key) result;
  }

  @ParameterizedTest
  @ValueSource(strings = {"kubelet-ecdsap256.der", "kubelet-ecdsap384.der", "kubelet-rsa3072.der"})
  void takesTheKeyOfAKubeletsStubRequest(String seed) throws Exception {
    byte[] der = seed(seed);
    PodCertificateKeys.Key key = key(PodCertificateKeys.fromStub(base64(der)));
    assertThat(key.source()).isEqualTo("spec.stubPKCS10Request");
    // The key is the request's, as Java reads it independently.
    var request = new org.bouncycastle.pkcs.PKCS10CertificationRequest(der);
    assertThat(key.key()).isEqualTo(KeyFactory.getInstance(key.key().getAlgorithm())
        .generatePublic(new X509EncodedKeySpec(request.getSubjectPublicKeyInfo().getEncoded())));
    assertThat(PodCertificateKeys.read(base64(der), null, "", "any-uid")).isInstanceOf(PodCertificateKeys.Key.class);
  }

  @Test
  void takesTheKeyOfStubRequestsMadeWithEveryAllowedAlgorithm() {
    KeyPair p256 = StubRequests.ec("secp256r1");
    KeyPair p384 = StubRequests.ec("secp384r1");
    KeyPair rsa = StubRequests.rsa(3072);
    assertThat(key(PodCertificateKeys.fromStub(base64(der(p256)))).key()).isEqualTo(p256.getPublic());
    assertThat(key(PodCertificateKeys.fromStub(base64(der(p256, p256.getPrivate(), "SHA512withECDSA")))).key())
        .isEqualTo(p256.getPublic());
    assertThat(key(PodCertificateKeys.fromStub(base64(der(p384)))).key()).isEqualTo(p384.getPublic());
    assertThat(key(PodCertificateKeys.fromStub(base64(der(rsa, rsa.getPrivate(), "SHA384withRSA")))).key())
        .isEqualTo(rsa.getPublic());
  }

  @Test
  void deniesAStubRequestWhoseSignatureDoesNotVerify() {
    KeyPair keys = StubRequests.ec("secp256r1");
    KeyPair other = StubRequests.ec("secp256r1");
    // Signed by another key: no proof of possession of the key it names.
    PodCertificateKeys.Problem foreign = problem(PodCertificateKeys.fromStub(base64(
        der(keys, other.getPrivate(), "SHA256withECDSA"))));
    assertThat(foreign.reason()).isEqualTo("InvalidSignature");
    assertThat(foreign.message()).contains("spec.stubPKCS10Request").contains("does not verify");
    // One bit of the Go-made request's signature flipped (the last byte is inside the signature).
    byte[] flipped = seed("kubelet-ecdsap256.der");
    flipped[flipped.length - 1] ^= 0x01;
    assertThat(problem(PodCertificateKeys.fromStub(base64(flipped))).reason()).isIn("InvalidSignature",
        "MalformedRequest");
    byte[] rsaFlipped = seed("kubelet-rsa3072.der");
    rsaFlipped[rsaFlipped.length - 1] ^= 0x01;
    assertThat(problem(PodCertificateKeys.fromStub(base64(rsaFlipped))).reason()).isEqualTo("InvalidSignature");
    // An algorithm not allowed for requests (SHA-1).
    KeyPair rsa = StubRequests.rsa(3072);
    PodCertificateKeys.Problem sha1 = problem(PodCertificateKeys.fromStub(base64(der(rsa, rsa.getPrivate(),
        "SHA1withRSA"))));
    assertThat(sha1.reason()).isEqualTo("InvalidSignature");
    assertThat(sha1.message()).contains("SHA-256");
  }

  @Test
  void deniesKeysThisSignerDoesNotIssueForNamingWhatItSupports() {
    for (String seed : new String[] {"kubelet-ecdsap521.der", "kubelet-ed25519.der"}) {
      PodCertificateKeys.Problem p = problem(PodCertificateKeys.fromStub(base64(seed(seed))));
      assertThat(p.reason()).as(seed).isEqualTo("UnsupportedKeyType");
      assertThat(p.message()).as(seed).contains("ECDSAP256").contains("ECDSAP384").contains("RSA3072")
          .contains("RSA4096").doesNotContain("pkixPublicKey");
    }
    assertThat(problem(PodCertificateKeys.fromStub(base64(seed("kubelet-ed25519.der")))).message())
        .contains("Ed25519");
    assertThat(problem(PodCertificateKeys.fromStub(base64(seed("kubelet-ecdsap521.der")))).message())
        .contains("secp521r1");
    KeyPair rsa1024 = StubRequests.rsa(1024);
    PodCertificateKeys.Problem small = problem(PodCertificateKeys.fromStub(base64(der(rsa1024))));
    assertThat(small.reason()).isEqualTo("UnsupportedKeyType");
    assertThat(small.message()).contains("1024 bits").contains("RSA3072");
  }

  @Test
  void readsAnRsaModulusSizeBeforeDecodingTheKey() throws Exception {
    // A 20000-bit modulus, which the JDK's key decoder refuses (at most 16384 bits), inside a stub
    // whose signature is garbage: UnsupportedKeyType naming its size (not MalformedRequest "does not
    // decode") shows that the size was read from the encoding before any decoding.
    BigInteger modulus = BigInteger.ONE.shiftLeft(19_999).setBit(0);
    byte[] rsaKey = new org.bouncycastle.asn1.pkcs.RSAPublicKey(modulus, BigInteger.valueOf(65537)).toASN1Primitive()
        .getEncoded().clone();
    SubjectPublicKeyInfo spki = new SubjectPublicKeyInfo(
        new AlgorithmIdentifier(PKCSObjectIdentifiers.rsaEncryption, DERNull.INSTANCE), rsaKey);
    byte[] info;
    byte[] stub;
    try {
      info = new org.bouncycastle.asn1.pkcs.CertificationRequestInfo(
          new org.bouncycastle.asn1.x500.X500Name(new org.bouncycastle.asn1.x500.RDN[0]), spki,
          new org.bouncycastle.asn1.DERSet()).getEncoded("DER");
      stub = new org.bouncycastle.asn1.DERSequence(new org.bouncycastle.asn1.ASN1Encodable[] {
          org.bouncycastle.asn1.ASN1Primitive.fromByteArray(info),
          new AlgorithmIdentifier(PKCSObjectIdentifiers.sha256WithRSAEncryption, DERNull.INSTANCE),
          new DERBitString(new byte[512])}).getEncoded("DER");
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    PodCertificateKeys.Problem big = problem(PodCertificateKeys.fromStub(base64(stub)));
    assertThat(big.reason()).isEqualTo("UnsupportedKeyType");
    assertThat(big.message()).contains("20000 bits");
  }

  @Test
  void refusesMoreThanTheApiServersTenKibibytesBeforeDecoding() {
    // 10 KiB plus one byte of otherwise valid DER (a request with a padded subject would be the same).
    byte[] big = StubRequests.wrap(0x30, new byte[PodCertificateKeys.MAX_BYTES - 3]);
    assertThat(big.length).isEqualTo(PodCertificateKeys.MAX_BYTES + 1);
    PodCertificateKeys.Problem tooBig = problem(PodCertificateKeys.fromStub(base64(big)));
    assertThat(tooBig.reason()).isEqualTo("MalformedRequest");
    assertThat(tooBig.message()).contains("10240");
    // Text far too long to be 10 KiB is refused on its length, before decoding (the message that
    // only the length check writes; decoded, the text would be 3 MiB of valid base64).
    char[] text = new char[4 * 1024 * 1024];
    Arrays.fill(text, 'A');
    assertThat(problem(PodCertificateKeys.fromStub(new String(text))).message()).contains("more than 10240 bytes");
  }

  @Test
  void refusesDeepNestingBeforeAnyParserRecurses() throws Exception {
    // 2500 nested SEQUENCEs fit in 10 KiB; BouncyCastle would recurse once per level.
    byte[] deep = StubRequests.nested(2500);
    assertThat(deep.length).isLessThanOrEqualTo(PodCertificateKeys.MAX_BYTES);
    PodCertificateKeys.Problem p = problem(PodCertificateKeys.fromStub(base64(deep)));
    assertThat(p.reason()).isEqualTo("MalformedRequest");
    assertThat(p.message()).contains("nested deeper than");
    // The same inside the RSA key's BIT STRING, which the outer walk does not enter.
    SubjectPublicKeyInfo spki = new SubjectPublicKeyInfo(
        new AlgorithmIdentifier(PKCSObjectIdentifiers.rsaEncryption, DERNull.INSTANCE), StubRequests.nested(2000));
    try {
      PodCertificateKeys.Problem inner = problem(PodCertificateKeys.fromPkix(base64(spki.getEncoded("DER")),
          base64(new byte[] {1}), "uid"));
      assertThat(inner.reason()).isEqualTo("MalformedRequest");
      assertThat(inner.message()).contains("RSA public key");
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @Test
  void refusesGarbageBerTrailingBytesAndTextThatIsNotBase64() {
    byte[] valid = seed("kubelet-ecdsap256.der");
    byte[] trailing = Arrays.copyOf(valid, valid.length + 2);
    assertThat(problem(PodCertificateKeys.fromStub(base64(trailing))).message()).contains("after the end");
    // The outer SEQUENCE with an indefinite length (BER) and its end-of-contents octets.
    byte[] header = {0x30, (byte) 0x80};
    int skip = DerLimits.headerLength(valid, 0);
    byte[] ber = new byte[2 + valid.length - skip + 2];
    System.arraycopy(header, 0, ber, 0, 2);
    System.arraycopy(valid, skip, ber, 2, valid.length - skip);
    assertThat(problem(PodCertificateKeys.fromStub(base64(ber))).message()).contains("indefinite length");
    assertThat(problem(PodCertificateKeys.fromStub("not base64!")).reason()).isEqualTo("MalformedRequest");
    Random random = new Random(23);
    for (int i = 0; i < 200; i++) {
      byte[] garbage = new byte[random.nextInt(1, 400)];
      random.nextBytes(garbage);
      assertThat(problem(PodCertificateKeys.fromStub(base64(garbage))).reason()).isIn("MalformedRequest",
          "UnsupportedKeyType", "InvalidSignature");
    }
    // Well-formed DER that is not a request.
    assertThat(problem(PodCertificateKeys.fromStub(base64(StubRequests.nested(3)))).reason())
        .isEqualTo("MalformedRequest");
  }

  @Test
  void takesTheKeyOfThe135FormWithItsProofOfPossession() {
    for (String kind : new String[] {"ecdsap256", "rsa3072"}) {
      byte[] pkix = seed("pkix-" + kind + ".der");
      byte[] proof = seed("pkix-" + kind + ".proof");
      PodCertificateKeys.Key key = key(PodCertificateKeys.read(null, base64(pkix), base64(proof),
          StubRequests.POD_UID));
      assertThat(key.source()).isEqualTo("spec.pkixPublicKey");
      assertThat(key.key().getEncoded()).isEqualTo(pkix);
      PodCertificateKeys.Problem otherPod = problem(PodCertificateKeys.fromPkix(base64(pkix), base64(proof),
          "another-pod-uid"));
      assertThat(otherPod.reason()).as(kind).isEqualTo("InvalidSignature");
      assertThat(otherPod.message()).contains("spec.proofOfPossession");
    }
  }

  @Test
  void saysWhatIsMissingOrWhyTheFormsMayNotBeMixed() {
    PodCertificateKeys.Problem none = problem(PodCertificateKeys.read(null, "", null, "uid"));
    assertThat(none.reason()).isEqualTo("MalformedRequest");
    assertThat(none.message()).contains("no key").contains("spec.stubPKCS10Request").contains("spec.pkixPublicKey");
    String stub = base64(seed("kubelet-ecdsap256.der"));
    PodCertificateKeys.Problem both = problem(PodCertificateKeys.read(stub, base64(seed("pkix-ecdsap256.der")),
        base64(seed("pkix-ecdsap256.proof")), StubRequests.POD_UID));
    assertThat(both.message()).contains("either").contains("stubPKCS10Request pkixPublicKey proofOfPossession");
    PodCertificateKeys.Problem noProof = problem(PodCertificateKeys.read(null, base64(seed("pkix-ecdsap256.der")),
        null, StubRequests.POD_UID));
    assertThat(noProof.message()).contains("it carries pkixPublicKey");
  }

  @Test
  void derLimitsAcceptWhatGoWritesAndRefuseNonMinimalLengths() {
    for (String seed : new String[] {"kubelet-ecdsap256.der", "kubelet-rsa3072.der", "kubelet-ed25519.der"}) {
      assertThat(DerLimits.of(Integer.MAX_VALUE, PodCertificateKeys.MAX_DEPTH).encoding(DerLimits.Encoding.DER).problem(seed(seed))).as(seed).isEmpty();
    }
    assertThat(DerLimits.of(Integer.MAX_VALUE, 4).encoding(DerLimits.Encoding.DER).problem(new byte[] {0x04, (byte) 0x81, 0x01, 0x00})).get().asString()
        .contains("shortest form");
    assertThat(DerLimits.of(Integer.MAX_VALUE, 4).encoding(DerLimits.Encoding.DER).problem(new byte[] {0x30, 0x03, 0x04, 0x05, 0x00})).get().asString()
        .contains("longer");
    assertThat(DerLimits.of(Integer.MAX_VALUE, 4).encoding(DerLimits.Encoding.DER).problem(new byte[0])).isPresent();
    assertThat(DerLimits.of(Integer.MAX_VALUE, 4).encoding(DerLimits.Encoding.DER).problem(StubRequests.nested(4))).isEmpty();
    assertThat(DerLimits.of(Integer.MAX_VALUE, 4).encoding(DerLimits.Encoding.DER).problem(StubRequests.nested(5))).get().asString().contains("deeper than 4");
  }

  /** Found by fuzzing: an RSA key whose BIT STRING has pad bits made BouncyCastle throw. */
  @Test
  void refusesAKeyWhoseBitStringHasPadBits() throws Exception {
    byte[] found;
    try (var in = getClass().getResourceAsStream(
        "PodCertificateRulesFuzzTestInputs/stubRequest/regression-fuzzed-rsa-key-bit-string-with-pad-bits.der")) {
      found = in.readAllBytes();
    }
    PodCertificateKeys.Problem p = problem(PodCertificateKeys.fromStub(base64(found)));
    assertThat(p.reason()).isEqualTo("MalformedRequest");
    assertThat(p.message()).contains("not a whole number of bytes");
  }
}
