using System.Security.Cryptography;
using System.Text;
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
    /// compose set it from <c>SP_ADMIN_TOKEN</c>. Unset or empty: the admin API does not exist (404).
    /// </summary>
    public string? Token { get; set; }

    public bool Enabled => !string.IsNullOrEmpty(Token);

    public bool IsValid() => !Enabled || (Token!.Length >= MinLength && Token.All(c => c is >= '!' and <= '~'));
}

/// <summary>
/// Guards <c>/admin</c>: 404 when no admin token is configured (there is no admin API to find), 401 without the exact
/// token. API keys, whatever their role, never open it.
/// </summary>
public sealed class AdminAuthentication(RequestDelegate next, IOptions<AdminOptions> options)
{
    private readonly byte[]? _tokenHash = options.Value.Enabled ? SHA256.HashData(Encoding.UTF8.GetBytes(options.Value.Token!)) : null;

    public Task InvokeAsync(HttpContext context)
    {
        if (!context.Request.Path.StartsWithSegments("/admin"))
        {
            return next(context);
        }

        if (_tokenHash is null)
        {
            return ErrorEnvelope.Write(context, StatusCodes.Status404NotFound, "NOT_FOUND", "No such route.");
        }

        string authorization = context.Request.Headers.Authorization.ToString();
        const string Bearer = "Bearer ";
        string presented = authorization.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase) ? authorization[Bearer.Length..].Trim() : "";
        // Hashes of equal length, compared in constant time: neither the token nor its length leaks through timing.
        if (!CryptographicOperations.FixedTimeEquals(_tokenHash, SHA256.HashData(Encoding.UTF8.GetBytes(presented))))
        {
            context.Response.Headers[HeaderNames.WWWAuthenticate] = "Bearer";
            return ErrorEnvelope.Write(context, StatusCodes.Status401Unauthorized, "UNAUTHENTICATED",
                "The admin API needs the admin token: send Authorization: Bearer <token>.");
        }

        return next(context);
    }
}
