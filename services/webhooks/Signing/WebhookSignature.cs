using System.Security.Cryptography;
using System.Text;

namespace ScheduledPosts.Webhooks.Signing;

/// <summary>Secrets and signatures of the Standard Webhooks spec: <c>whsec_&lt;base64&gt;</c> and <c>v1,&lt;base64 HMAC-SHA256&gt;</c>.</summary>
public static class WebhookSignature
{
    public const string SecretPrefix = "whsec_";

    public static string NewSecret() => SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>The <c>webhook-signature</c> value for one attempt: HMAC-SHA256 of <c>{id}.{timestamp}.{body}</c>.</summary>
    public static string Sign(string secret, string webhookId, long timestamp, string body)
    {
        byte[] key = Convert.FromBase64String(secret.StartsWith(SecretPrefix, StringComparison.Ordinal) ? secret[SecretPrefix.Length..] : secret);
        byte[] content = Encoding.UTF8.GetBytes($"{webhookId}.{timestamp}.{body}");
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, content));
    }
}
