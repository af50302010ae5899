using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace ScheduledPosts.Scheduling.Accounts;

public sealed class CredentialOptions
{
    public const string Section = "Credentials";

    /// <summary>Base64 of 32 random bytes: the AES-256-GCM key that encrypts platform credentials at rest.</summary>
    public string Key { get; set; } = "";
}

/// <summary>
/// Encrypts social-account credentials at rest with AES-256-GCM, bound to the account id (so a ciphertext copied to
/// another row does not decrypt). Layout: version (1) | nonce (12) | tag (16) | ciphertext.
/// </summary>
public sealed class CredentialProtector(IOptions<CredentialOptions> options)
{
    private const byte Version = 1;
    private readonly byte[] _key = Convert.FromBase64String(options.Value.Key);

    public static bool IsValidKey(string key)
    {
        try
        {
            return Convert.FromBase64String(key).Length == 32;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>A key of its own for another purpose (<paramref name="purpose"/>), derived from this one with HKDF-SHA256.</summary>
    public byte[] DeriveKey(string purpose) => HKDF.DeriveKey(HashAlgorithmName.SHA256, _key, 32, info: Encoding.UTF8.GetBytes(purpose));

    public byte[] Protect(string accountId, string plaintext)
    {
        byte[] data = Encoding.UTF8.GetBytes(plaintext);
        byte[] result = new byte[1 + 12 + 16 + data.Length];
        result[0] = Version;
        var nonce = result.AsSpan(1, 12);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, 16);
        aes.Encrypt(nonce, data, result.AsSpan(29), result.AsSpan(13, 16), Encoding.UTF8.GetBytes(accountId));
        return result;
    }

    public string Unprotect(string accountId, byte[] protectedData)
    {
        if (protectedData.Length < 29 || protectedData[0] != Version)
        {
            throw new CryptographicException("Unknown credential format.");
        }

        byte[] plaintext = new byte[protectedData.Length - 29];
        using var aes = new AesGcm(_key, 16);
        aes.Decrypt(protectedData.AsSpan(1, 12), protectedData.AsSpan(29), protectedData.AsSpan(13, 16), plaintext, Encoding.UTF8.GetBytes(accountId));
        return Encoding.UTF8.GetString(plaintext);
    }
}
