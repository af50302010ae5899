namespace ScheduledPosts.ServiceDefaults.Identity;

/// <summary>
/// The keys of the internal identity (ECDSA P-256, PEM). A process that signs holds its own private key under
/// <c>Internal:SigningKeys:&lt;issuer&gt;</c>; a process that receives holds the public key of each issuer it trusts
/// under <c>Internal:TrustedKeys:&lt;issuer&gt;</c>. Nothing is shared: a receiver cannot mint an identity.
/// </summary>
public sealed class InternalIdentityOptions
{
    public const string Section = "Internal";

    /// <summary>The longest a token may live (issuers give theirs this lifetime); the ceiling.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromSeconds(30);

    /// <summary>Issuer → PKCS#8 private key PEM (<c>-----BEGIN PRIVATE KEY-----</c>).</summary>
    public Dictionary<string, string> SigningKeys { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Issuer → public key PEM (<c>-----BEGIN PUBLIC KEY-----</c>).</summary>
    public Dictionary<string, string> TrustedKeys { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How long a token the process issues is valid (at most <see cref="MaxLifetime"/>).</summary>
    public TimeSpan TokenLifetime { get; set; } = MaxLifetime;

    /// <summary>How far the clocks of issuer and receiver may disagree.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(5);

    public string? SigningKey(string issuer) => Find(SigningKeys, issuer);

    public string? TrustedKey(string issuer) => Find(TrustedKeys, issuer);

    private static string? Find(Dictionary<string, string> keys, string issuer)
        => keys.FirstOrDefault(k => string.Equals(k.Key, issuer, StringComparison.OrdinalIgnoreCase)).Value;
}
