using System.Security.Cryptography;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Testing;

/// <summary>An ECDSA P-256 key pair in PEM, as a deployment gives it to the internal identity's issuers and receivers.</summary>
public sealed record KeyPair(string PrivatePem, string PublicPem)
{
    public static KeyPair Create()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new KeyPair(key.ExportPkcs8PrivateKeyPem(), key.ExportSubjectPublicKeyInfoPem());
    }

    /// <summary>An issuer signing with this pair's private key, as <paramref name="issuer"/> (a test may claim to be anyone).</summary>
    public InternalTokenIssuer Issuer(string issuer, TimeProvider? clock = null, TimeSpan? lifetime = null)
        => new(issuer, PrivatePem, lifetime ?? InternalIdentityOptions.MaxLifetime, clock ?? TimeProvider.System);
}

/// <summary>The key pairs of the tests' processes: made once per test run, never written anywhere.</summary>
public static class InternalKeys
{
    public static readonly KeyPair Gateway = KeyPair.Create();

    public static readonly KeyPair Publisher = KeyPair.Create();

    /// <summary>A key nobody trusts: what an attacker, or a service that is no issuer, could sign with.</summary>
    public static readonly KeyPair Stranger = KeyPair.Create();

    /// <summary>Signs as the gateway.</summary>
    public static readonly InternalTokenIssuer GatewayIssuer = Gateway.Issuer(InternalIssuers.Gateway);

    /// <summary>Signs as the publisher.</summary>
    public static readonly InternalTokenIssuer PublisherIssuer = Publisher.Issuer(InternalIssuers.Publisher);

    /// <summary>Every key setting of deploy/services.json, with the tests' values.</summary>
    public static IReadOnlyDictionary<string, string> Settings { get; } = new Dictionary<string, string>
    {
        ["Internal:SigningKeys:gateway"] = Gateway.PrivatePem,
        ["Internal:TrustedKeys:gateway"] = Gateway.PublicPem,
        ["Internal:SigningKeys:publisher"] = Publisher.PrivatePem,
        ["Internal:TrustedKeys:publisher"] = Publisher.PublicPem,
    };

    /// <summary>
    /// What the gateway would send <paramref name="audience"/> for <paramref name="method"/> on <paramref name="path"/>
    /// on behalf of <paramref name="identity"/>.
    /// </summary>
    public static string FromGateway(InternalIdentity identity, string audience, string method, string path)
        => GatewayIssuer.Issue(identity, audience, method, path);
}
