using System.Security.Cryptography;
using System.Text;

namespace ScheduledPosts.Webhooks.Signing;

/// <summary>Secrets and signatures of the Standard Webhooks spec: <c>whsec_&lt;base64&gt;</c> and <c>v1,&lt;base64 HMAC-SHA256&gt;</c>.</summary>
public static class WebhookSignature
{
    public const string SecretPrefix = "whsec_";

    public static string NewSecret() => SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>One signature: HMAC-SHA256 of <c>{id}.{timestamp}.{body}</c>, keyed with the secret's decoded bytes.</summary>
    public static string Sign(string secret, string webhookId, long timestamp, string body)
    {
        byte[] key = Convert.FromBase64String(secret.StartsWith(SecretPrefix, StringComparison.Ordinal) ? secret[SecretPrefix.Length..] : secret);
        byte[] content = Encoding.UTF8.GetBytes($"{webhookId}.{timestamp}.{body}");
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, content));
    }

    /// <summary>The <c>webhook-signature</c> header: one signature per secret, space-separated (a receiver accepts any that verifies).</summary>
    public static string Header(IEnumerable<string> secrets, string webhookId, long timestamp, string body)
        => string.Join(' ', secrets.Select(s => Sign(s, webhookId, timestamp, body)));
}

/// <summary>An endpoint's secrets: the current one, and the one it replaced while the rotation's overlap lasts.</summary>
public sealed record EndpointSecrets(string Current, string? Previous, DateTimeOffset? PreviousExpiresAt)
{
    /// <summary>The secrets an attempt made at <paramref name="now"/> is signed with, the current one first.</summary>
    public IReadOnlyList<string> SigningAt(DateTimeOffset now)
        => Previous is not null && PreviousExpiresAt > now ? [Current, Previous] : [Current];

    public override string ToString() => "EndpointSecrets (redacted)";
}
