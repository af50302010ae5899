using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.WebUtilities;

namespace ScheduledPosts.ServiceDefaults.Identity;

/// <summary>
/// The internal identity token: a compact JWS (<c>header.payload.signature</c>, base64url) signed with ES256 by its
/// issuer's private key. Its claims bind it to one request: the audience service (<c>aud</c>), the method (<c>htm</c>)
/// and the path (<c>htu</c>) the receiver sees, a lifetime of at most 30 s (<c>iat</c>, <c>exp</c>) and a unique id
/// (<c>jti</c>, refused the second time); then the caller: workspace (<c>ws</c>), API key id (<c>key</c>), scopes (<c>scp</c>).
/// </summary>
public static class InternalToken
{
    private static readonly string Header =
        WebEncoders.Base64UrlEncode(JsonSerializer.SerializeToUtf8Bytes(new TokenHeader("ES256", "sp-identity+jwt")));

    internal sealed record TokenHeader(
        [property: JsonPropertyName("alg")] string? Alg,
        [property: JsonPropertyName("typ")] string? Typ);

    internal sealed record Claims(
        [property: JsonPropertyName("iss")] string? Iss,
        [property: JsonPropertyName("aud")] string? Aud,
        [property: JsonPropertyName("htm")] string? Htm,
        [property: JsonPropertyName("htu")] string? Htu,
        [property: JsonPropertyName("iat")] long Iat,
        [property: JsonPropertyName("exp")] long Exp,
        [property: JsonPropertyName("jti")] string? Jti,
        [property: JsonPropertyName("ws")] string? Ws,
        [property: JsonPropertyName("key")] string? Key,
        [property: JsonPropertyName("scp")] string[]? Scp);

    internal static string Sign(ECDsa key, Claims claims)
    {
        string body = $"{Header}.{WebEncoders.Base64UrlEncode(JsonSerializer.SerializeToUtf8Bytes(claims))}";
        // IEEE P1363 (r‖s), as JWS ES256 asks.
        byte[] signature = key.SignData(Encoding.ASCII.GetBytes(body), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return $"{body}.{WebEncoders.Base64UrlEncode(signature)}";
    }

    /// <summary>A P-256 key from PEM: a private key (PKCS#8 or SEC1) when <paramref name="requirePrivate"/>, else a public one.</summary>
    public static ECDsa? ImportKey(string? pem, bool requirePrivate)
    {
        if (string.IsNullOrWhiteSpace(pem))
        {
            return null;
        }

        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
            var parameters = key.ExportParameters(includePrivateParameters: false);
            if (parameters.Curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value
                || (requirePrivate && !HasPrivateKey(key)))
            {
                key.Dispose();
                return null;
            }

            return key;
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            key.Dispose();
            return null;
        }
    }

    public static bool IsPrivateKey(string? pem)
    {
        using var key = ImportKey(pem, requirePrivate: true);
        return key is not null;
    }

    public static bool IsPublicKey(string? pem)
    {
        using var key = ImportKey(pem, requirePrivate: false);
        return key is not null;
    }

    private static bool HasPrivateKey(ECDsa key)
    {
        try
        {
            return key.ExportParameters(includePrivateParameters: true).D is { Length: > 0 };
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}

/// <summary>Signs the identities one process (an issuer: the gateway, the publisher) states, each for one request.</summary>
public sealed class InternalTokenIssuer : IDisposable
{
    private readonly ECDsa _key;
    private readonly TimeProvider _clock;
    private readonly TimeSpan _lifetime;

    public InternalTokenIssuer(string issuer, string privateKeyPem, TimeSpan lifetime, TimeProvider clock)
    {
        _key = InternalToken.ImportKey(privateKeyPem, requirePrivate: true)
               ?? throw new InvalidOperationException($"Internal:SigningKeys:{issuer} is not an ECDSA P-256 private key in PEM.");
        Issuer = issuer;
        _lifetime = lifetime <= TimeSpan.Zero || lifetime > InternalIdentityOptions.MaxLifetime ? InternalIdentityOptions.MaxLifetime : lifetime;
        _clock = clock;
    }

    public string Issuer { get; }

    /// <summary>
    /// A token stating <paramref name="identity"/> to <paramref name="audience"/> for one request:
    /// <paramref name="method"/> on <paramref name="path"/> (as the receiver will see it, unescaped, without the query).
    /// </summary>
    public string Issue(InternalIdentity identity, string audience, string method, string path)
    {
        var now = _clock.GetUtcNow();
        return InternalToken.Sign(_key, new InternalToken.Claims(
            Issuer, audience, method.ToUpperInvariant(), path,
            now.ToUnixTimeSeconds(), (now + _lifetime).ToUnixTimeSeconds(),
            WebEncoders.Base64UrlEncode(RandomNumberGenerator.GetBytes(16)),
            identity.WorkspaceId, identity.KeyId, [.. identity.Scopes]));
    }

    public void Dispose() => _key.Dispose();
}

/// <summary>An identity a receiver accepted, and who vouched for it.</summary>
public sealed record VerifiedIdentity(string Issuer, InternalIdentity Identity);

/// <summary>
/// Checks tokens for one receiving service (<c>aud</c>): signed by an issuer it trusts, for this method and path,
/// within its lifetime, not seen before. Returns why a token is refused, never what it held.
/// </summary>
public sealed class InternalTokenValidator : IDisposable
{
    private const int SweepEvery = 1024;

    private readonly Dictionary<string, ECDsa> _trusted;
    private readonly TimeProvider _clock;
    private readonly TimeSpan _skew;
    private readonly ConcurrentDictionary<string, long> _seen = new(StringComparer.Ordinal);
    private int _added;

    public InternalTokenValidator(string audience, IReadOnlyDictionary<string, string> trustedKeys, TimeSpan clockSkew, TimeProvider clock)
    {
        Audience = audience;
        _trusted = new Dictionary<string, ECDsa>(StringComparer.Ordinal);
        foreach (var (issuer, pem) in trustedKeys)
        {
            _trusted[issuer] = InternalToken.ImportKey(pem, requirePrivate: false)
                               ?? throw new InvalidOperationException($"Internal:TrustedKeys:{issuer} is not an ECDSA P-256 public key in PEM.");
        }

        _skew = clockSkew < TimeSpan.Zero ? TimeSpan.Zero : clockSkew;
        _clock = clock;
    }

    public string Audience { get; }

    public IReadOnlyCollection<string> TrustedIssuers => _trusted.Keys;

    public VerifiedIdentity? Validate(string? token, string method, string path, out string? failure)
    {
        failure = Check(token, method, path, out var verified);
        return failure is null ? verified : null;
    }

    private string? Check(string? token, string method, string path, out VerifiedIdentity? verified)
    {
        verified = null;
        string[] parts = (token ?? "").Split('.');
        if (parts.Length != 3)
        {
            return "malformed";
        }

        InternalToken.TokenHeader? header;
        InternalToken.Claims? claims;
        byte[] signature;
        try
        {
            header = JsonSerializer.Deserialize<InternalToken.TokenHeader>(WebEncoders.Base64UrlDecode(parts[0]));
            claims = JsonSerializer.Deserialize<InternalToken.Claims>(WebEncoders.Base64UrlDecode(parts[1]));
            signature = WebEncoders.Base64UrlDecode(parts[2]);
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            return "malformed";
        }

        if (header?.Alg != "ES256" || claims is null)
        {
            return "malformed";
        }

        // The issuer picks the key: a key trusted for one issuer never vouches for another.
        if (claims.Iss is null || !_trusted.TryGetValue(claims.Iss, out var key))
        {
            return "untrusted issuer";
        }

        if (!key.VerifyData(Encoding.ASCII.GetBytes($"{parts[0]}.{parts[1]}"), signature, HashAlgorithmName.SHA256,
                DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
        {
            return "bad signature";
        }

        if (claims.Aud != Audience)
        {
            return "wrong audience";
        }

        if (!string.Equals(claims.Htm, method, StringComparison.OrdinalIgnoreCase) || claims.Htu != path)
        {
            return "issued for another request";
        }

        long now = _clock.GetUtcNow().ToUnixTimeSeconds();
        long skew = (long)_skew.TotalSeconds;
        if (claims.Exp - claims.Iat > (long)InternalIdentityOptions.MaxLifetime.TotalSeconds || claims.Exp < claims.Iat)
        {
            return "lifetime too long";
        }

        if (claims.Iat > now + skew || claims.Exp + skew < now)
        {
            return "expired";
        }

        if (string.IsNullOrEmpty(claims.Jti) || claims.Ws is null || claims.Key is null || claims.Scp is null)
        {
            return "malformed";
        }

        if (!Remember(claims.Jti, claims.Exp + skew, now))
        {
            return "replayed";
        }

        verified = new VerifiedIdentity(claims.Iss, new InternalIdentity(claims.Ws, claims.Key, claims.Scp));
        return null;
    }

    /// <summary>False when the token id was seen before (a replay); ids are kept until their token expires.</summary>
    private bool Remember(string jti, long expires, long now)
    {
        if (!_seen.TryAdd(jti, expires))
        {
            return false;
        }

        if (Interlocked.Increment(ref _added) % SweepEvery == 0)
        {
            foreach (var (id, until) in _seen)
            {
                if (until < now)
                {
                    _seen.TryRemove(id, out _);
                }
            }
        }

        return true;
    }

    public void Dispose()
    {
        foreach (var key in _trusted.Values)
        {
            key.Dispose();
        }
    }
}
