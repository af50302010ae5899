using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace ScheduledPosts.ServiceDefaults.Identity;

/// <summary>
/// The authorization policies of the services, each checked by the service itself (the gateway checks the same scopes
/// first). Every endpoint needs an authenticated internal identity (the fallback policy) unless it allows anonymous
/// callers (health probes); operations on a workspace's resources need the gateway as issuer and the API key scope.
/// </summary>
public static class InternalPolicies
{
    /// <summary>The publisher's own identity with the <c>targets</c> scope: nobody else claims targets or reads their media.</summary>
    public const string Targets = "targets";

    /// <summary>The gateway completing an OAuth connection for a browser (<see cref="InternalScopes.OAuthCallback"/>).</summary>
    public const string OAuthCallback = "oauth_callback";

    /// <summary>The gateway on behalf of the admin token (<see cref="InternalScopes.Admin"/>): <c>GET /admin/status</c>.</summary>
    public const string Admin = "admin";

    /// <summary>The resources whose scopes the services enforce (the gateway's <c>keys</c> never reaches them).</summary>
    public static readonly IReadOnlyList<string> Resources = ["posts", "accounts", "webhooks", "settings"];

    /// <summary>
    /// REST: <c>&lt;resource&gt;:read</c> for GET and HEAD, <c>&lt;resource&gt;:write</c> for every other method — the
    /// rule the gateway applies to its routes.
    /// </summary>
    public static string Resource(string resource) => $"resource:{resource}";

    /// <summary>One scope, whatever the method (gRPC methods, which are all POSTs).</summary>
    public static string Scope(string scope) => $"scope:{scope}";

    // The scope policies as constants, for attributes ([Authorize(Policy = ...)] on gRPC methods).
    public const string PostsRead = "scope:posts:read";
    public const string PostsWrite = "scope:posts:write";
    public const string AccountsRead = "scope:accounts:read";
    public const string AccountsWrite = "scope:accounts:write";
    public const string WebhooksRead = "scope:webhooks:read";
    public const string WebhooksWrite = "scope:webhooks:write";
    public const string SettingsRead = "scope:settings:read";
    public const string SettingsWrite = "scope:settings:write";

    internal static void Add(AuthorizationBuilder authorization)
    {
        authorization.SetFallbackPolicy(new AuthorizationPolicyBuilder(InternalIdentityAuthenticationHandler.SchemeName)
            .RequireAuthenticatedUser().Build());
        authorization.AddPolicy(Targets, p => p.AddAuthenticationSchemes(InternalIdentityAuthenticationHandler.SchemeName)
            .RequireClaim(InternalCaller.IssuerClaim, InternalIssuers.Publisher)
            .RequireClaim(InternalCaller.ScopeClaim, InternalScopes.Targets));
        authorization.AddPolicy(OAuthCallback, p => FromGateway(p).RequireClaim(InternalCaller.ScopeClaim, InternalScopes.OAuthCallback));
        authorization.AddPolicy(Admin, p => FromGateway(p).RequireClaim(InternalCaller.ScopeClaim, InternalScopes.Admin));
        foreach (string resource in Resources)
        {
            authorization.AddPolicy(Resource(resource), p => FromGateway(p).AddRequirements(new ResourceScopeRequirement(resource)));
            foreach (string scope in new[] { $"{resource}:read", $"{resource}:write" })
            {
                authorization.AddPolicy(Scope(scope), p => FromGateway(p).RequireClaim(InternalCaller.ScopeClaim, scope));
            }
        }
    }

    private static AuthorizationPolicyBuilder FromGateway(AuthorizationPolicyBuilder policy)
        => policy.AddAuthenticationSchemes(InternalIdentityAuthenticationHandler.SchemeName)
            .RequireClaim(InternalCaller.IssuerClaim, InternalIssuers.Gateway);
}

/// <summary>
/// The caller holds the read scope of the resource for GET and HEAD, its write scope otherwise. Its own handler
/// (ASP.NET Core's pass-through handler runs requirements that are handlers).
/// </summary>
public sealed class ResourceScopeRequirement(string resource) : AuthorizationHandler<ResourceScopeRequirement>, IAuthorizationRequirement
{
    public string Resource { get; } = resource;

    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, ResourceScopeRequirement requirement)
    {
        string? method = context.Resource switch
        {
            HttpContext http => http.Request.Method,
            _ => null,
        };
        if (method is not null)
        {
            string scope = HttpMethods.IsGet(method) || HttpMethods.IsHead(method) ? $"{requirement.Resource}:read" : $"{requirement.Resource}:write";
            if (context.User.HasClaim(InternalCaller.ScopeClaim, scope))
            {
                context.Succeed(requirement);
            }
        }

        return Task.CompletedTask;
    }
}

public static class InternalIdentityExtensions
{
    /// <summary>
    /// A service behind the gateway: it authenticates the internal identity of each request as <paramref name="audience"/>,
    /// trusting the public keys of <paramref name="trustedIssuers"/> (<c>Internal:TrustedKeys:&lt;issuer&gt;</c>, required
    /// at start), and authorizes it with <see cref="InternalPolicies"/>. An empty list trusts nobody: every endpoint but
    /// the anonymous ones answers 401.
    /// </summary>
    public static IHostApplicationBuilder AddInternalIdentity(this IHostApplicationBuilder builder, string audience, params string[] trustedIssuers)
    {
        var options = builder.Services.AddOptions<InternalIdentityOptions>().BindConfiguration(InternalIdentityOptions.Section);
        foreach (string issuer in trustedIssuers)
        {
            options.Validate(o => InternalToken.IsPublicKey(o.TrustedKey(issuer)),
                $"Internal:TrustedKeys:{issuer} must be the {issuer}'s ECDSA P-256 public key in PEM (openssl pkey -pubout).");
        }

        options.ValidateOnStart();
        builder.Services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<InternalIdentityOptions>>().Value;
            return new InternalTokenValidator(audience, trustedIssuers.ToDictionary(i => i, i => o.TrustedKey(i)!), o.ClockSkew,
                sp.GetRequiredService<TimeProvider>());
        });
        builder.Services.AddAuthentication(InternalIdentityAuthenticationHandler.SchemeName)
            .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, InternalIdentityAuthenticationHandler>(
                InternalIdentityAuthenticationHandler.SchemeName, null);
        InternalPolicies.Add(builder.Services.AddAuthorizationBuilder());
        return builder;
    }

    /// <summary>
    /// A process that signs internal identities as <paramref name="issuer"/> with its own private key
    /// (<c>Internal:SigningKeys:&lt;issuer&gt;</c>, required at start).
    /// </summary>
    public static IHostApplicationBuilder AddInternalTokenIssuer(this IHostApplicationBuilder builder, string issuer)
    {
        builder.Services.AddOptions<InternalIdentityOptions>().BindConfiguration(InternalIdentityOptions.Section)
            .Validate(o => InternalToken.IsPrivateKey(o.SigningKey(issuer)),
                $"Internal:SigningKeys:{issuer} must be the {issuer}'s own ECDSA P-256 private key in PEM (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256).")
            .Validate(o => o.TokenLifetime > TimeSpan.Zero && o.TokenLifetime <= InternalIdentityOptions.MaxLifetime,
                "Internal:TokenLifetime must be positive and at most 30 s.")
            .ValidateOnStart();
        builder.Services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<InternalIdentityOptions>>().Value;
            return new InternalTokenIssuer(issuer, o.SigningKey(issuer)!, o.TokenLifetime, sp.GetRequiredService<TimeProvider>());
        });
        return builder;
    }
}
