using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;

namespace ScheduledPosts.Gateway.ApiKeys;

/// <summary>
/// The secret half of an API key: shown once when minted, then only its SHA-256 is stored
/// (plus a short clear prefix so people can tell their keys apart).
/// </summary>
public static class ApiKeySecret
{
    public const int MinLength = 32;
    private const int PrefixLength = 10;

    /// <summary>A new key: <c>sp_</c> and 32 random bytes in base64url (46 characters).</summary>
    public static string Generate() => "sp_" + WebEncoders.Base64UrlEncode(RandomNumberGenerator.GetBytes(32));

    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    public static string Prefix(string key) => key[..Math.Min(PrefixLength, key.Length)];
}
