using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace ScheduledPosts.Webhooks.Signing;

/// <summary>
/// Encrypts signing secrets at rest: AES-256-GCM under <c>Webhooks:SecretKey</c>, bound to the endpoint's id (so a
/// ciphertext cannot be moved to another endpoint). Without a key, secrets are stored as they are; a stored value
/// that is not a ciphertext (from before a key was configured) is read as it is.
/// </summary>
public sealed class SecretProtector
{
    public const string Prefix = "aesgcm1:";
    private const int NonceSize = 12;
    private const int TagSize = 16;

    private readonly byte[]? _key;

    public SecretProtector(IOptions<WebhookOptions> options)
    {
        _key = string.IsNullOrEmpty(options.Value.SecretKey) ? null : Convert.FromBase64String(options.Value.SecretKey);
    }

    public bool Encrypts => _key is not null;

    /// <summary>Whether <paramref name="key"/> is usable as <c>Webhooks:SecretKey</c> (validated at start-up).</summary>
    public static bool IsValidKey(string? key)
    {
        if (string.IsNullOrEmpty(key))
        {
            return true;
        }

        var bytes = new byte[32];
        return Convert.TryFromBase64String(key, bytes, out int written) && written == 32;
    }

    public static bool IsProtected(string stored) => stored.StartsWith(Prefix, StringComparison.Ordinal);

    public string Protect(string secret, string endpointId)
    {
        if (_key is null)
        {
            return secret;
        }

        byte[] plaintext = Encoding.UTF8.GetBytes(secret);
        byte[] sealedBytes = new byte[NonceSize + TagSize + plaintext.Length];
        var nonce = sealedBytes.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(nonce, plaintext, sealedBytes.AsSpan(NonceSize + TagSize), sealedBytes.AsSpan(NonceSize, TagSize), Encoding.UTF8.GetBytes(endpointId));
        return Prefix + Convert.ToBase64String(sealedBytes);
    }

    public string Unprotect(string stored, string endpointId)
    {
        if (!IsProtected(stored))
        {
            return stored;
        }

        if (_key is null)
        {
            throw new InvalidOperationException($"The signing secret of {endpointId} is encrypted, but Webhooks:SecretKey is not configured.");
        }

        byte[] sealedBytes = Convert.FromBase64String(stored[Prefix.Length..]);
        byte[] plaintext = new byte[sealedBytes.Length - NonceSize - TagSize];
        try
        {
            using var aes = new AesGcm(_key, TagSize);
            aes.Decrypt(sealedBytes.AsSpan(0, NonceSize), sealedBytes.AsSpan(NonceSize + TagSize), sealedBytes.AsSpan(NonceSize, TagSize),
                plaintext, Encoding.UTF8.GetBytes(endpointId));
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new InvalidOperationException($"The signing secret of {endpointId} cannot be decrypted: Webhooks:SecretKey is not the key it was stored with.");
        }

        return Encoding.UTF8.GetString(plaintext);
    }
}
