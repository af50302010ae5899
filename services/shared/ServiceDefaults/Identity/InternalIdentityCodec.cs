using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace ScheduledPosts.ServiceDefaults.Identity;

public sealed class InternalIdentityOptions
{
    public const string Section = "Internal";

    /// <summary>Shared by the gateway and the services; at least 32 characters.</summary>
    public string Secret { get; set; } = "";

    /// <summary>How long a signed identity is accepted after it was issued.</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>
/// Signs and verifies <see cref="InternalIdentity"/> as <c>v1.&lt;payload&gt;.&lt;HMAC-SHA256&gt;</c> (base64url),
/// with its issue time inside the payload so a captured header goes stale.
/// </summary>
public sealed class InternalIdentityCodec(IOptions<InternalIdentityOptions> options, TimeProvider clock)
{
    private readonly byte[] _key = Encoding.UTF8.GetBytes(options.Value.Secret);
    private readonly TimeSpan _maxAge = options.Value.MaxAge;

    private sealed record Payload(string W, string K, string[] S, long Iat);

    public string Encode(InternalIdentity identity)
    {
        var payload = new Payload(identity.WorkspaceId, identity.KeyId, [.. identity.Scopes], clock.GetUtcNow().ToUnixTimeSeconds());
        string body = WebEncoders.Base64UrlEncode(JsonSerializer.SerializeToUtf8Bytes(payload));
        return $"v1.{body}.{Sign(body)}";
    }

    public InternalIdentity? Decode(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return null;
        }

        string[] parts = token.Split('.');
        if (parts.Length != 3 || parts[0] != "v1")
        {
            return null;
        }

        byte[] expected = Encoding.ASCII.GetBytes(Sign(parts[1]));
        if (!CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(parts[2])))
        {
            return null;
        }

        Payload? payload;
        try
        {
            payload = JsonSerializer.Deserialize<Payload>(WebEncoders.Base64UrlDecode(parts[1]));
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            return null;
        }

        if (payload is null)
        {
            return null;
        }

        var age = clock.GetUtcNow() - DateTimeOffset.FromUnixTimeSeconds(payload.Iat);
        return age > _maxAge || age < -_maxAge ? null : new InternalIdentity(payload.W, payload.K, payload.S);
    }

    private string Sign(string body) => WebEncoders.Base64UrlEncode(HMACSHA256.HashData(_key, Encoding.ASCII.GetBytes(body)));
}
