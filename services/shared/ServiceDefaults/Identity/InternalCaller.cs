using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.ServiceDefaults.Identity;

/// <summary>The claims of an authenticated internal identity, and the identity of the current request.</summary>
public static class InternalCaller
{
    public const string IssuerClaim = "sp_iss";
    public const string WorkspaceClaim = "sp_ws";
    public const string KeyClaim = "sp_key";
    public const string ScopeClaim = "scope";

    public static ClaimsPrincipal ToPrincipal(VerifiedIdentity verified, string scheme)
    {
        var claims = new List<Claim>
        {
            new(IssuerClaim, verified.Issuer),
            new(WorkspaceClaim, verified.Identity.WorkspaceId),
            new(KeyClaim, verified.Identity.KeyId),
        };
        claims.AddRange(verified.Identity.Scopes.Select(s => new Claim(ScopeClaim, s)));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme, KeyClaim, null));
    }

    /// <summary>The caller the internal identity authenticated (401 when the request has none).</summary>
    public static InternalIdentity Current(HttpContext context)
    {
        var user = context.User;
        if (user.Identity?.IsAuthenticated != true || user.FindFirst(KeyClaim) is not { } key)
        {
            throw ApiException.Unauthenticated();
        }

        return new InternalIdentity(user.FindFirst(WorkspaceClaim)?.Value ?? "", key.Value,
            [.. user.FindAll(ScopeClaim).Select(c => c.Value)]);
    }
}
