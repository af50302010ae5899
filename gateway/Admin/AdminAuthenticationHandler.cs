using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Gateway.Admin;

public sealed class AdminOptions
{
    public const string Section = "Admin";
    public const int MinLength = 32;

    /// <summary>
    /// Enables the admin API (<c>/admin/…</c>) for callers presenting it as <c>Authorization: Bearer</c>; run.sh and
    /// compose set it from <c>SP_ADMIN_TOKEN</c>. Unset or empty: the admin API is not mapped at all (404).
    /// </summary>
    public string? Token { get; set; }

    public bool Enabled => !string.IsNullOrEmpty(Token);

    public bool IsValid() => !Enabled || (Token!.Length >= MinLength && Token.All(c => c is >= '!' and <= '~'));
}

/// <summary>
/// The scheme of the admin API's policy (<see cref="AdminApi.Policy"/>): the exact admin token as
/// <c>Authorization: Bearer</c>, 401 otherwise. API keys, whatever their role, never satisfy it.
/// </summary>
public sealed class AdminAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory loggerFactory, UrlEncoder encoder, IOptions<AdminOptions> admin)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "Admin";
    private const string BearerPrefix = "Bearer ";

    private readonly byte[]? _tokenHash = admin.Value.Enabled ? SHA256.HashData(Encoding.UTF8.GetBytes(admin.Value.Token!)) : null;

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string authorization = Request.Headers.Authorization.ToString();
        string presented = authorization.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase) ? authorization[BearerPrefix.Length..].Trim() : "";
        // Hashes of equal length, compared in constant time: neither the token nor its length leaks through timing.
        if (_tokenHash is null || !CryptographicOperations.FixedTimeEquals(_tokenHash, SHA256.HashData(Encoding.UTF8.GetBytes(presented))))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Role, "admin")], SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers[HeaderNames.WWWAuthenticate] = "Bearer";
        return ErrorEnvelope.Write(Context, StatusCodes.Status401Unauthorized, "UNAUTHENTICATED",
            "The admin API needs the admin token: send Authorization: Bearer <token>.");
    }
}
