using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using ScheduledPosts.Gateway.Dialects;

namespace ScheduledPosts.Gateway.ApiKeys;

/// <summary>
/// The gateway's authorization policies. One per resource (<c>posts</c>, <c>accounts</c>, …, named as the resource):
/// an API key holding the scope the method asks for it (<see cref="Scopes.Required"/>). Proxied routes name theirs in
/// configuration (<c>"AuthorizationPolicy": "posts"</c>), the gateway's own endpoints in code. The fallback policy,
/// for every endpoint that names none, still asks any <c>/v1</c> request for a valid key: a path that matches nothing
/// is a 404 only to an authenticated caller.
/// </summary>
public static class ScopePolicies
{
    public static AuthorizationBuilder AddScopePolicies(this AuthorizationBuilder authorization)
    {
        foreach (string resource in Scopes.Resources)
        {
            authorization.AddPolicy(resource, p => p.RequireAuthenticatedUser().AddRequirements(new ScopeRequirement(resource)));
        }

        authorization.SetFallbackPolicy(new AuthorizationPolicyBuilder().AddRequirements(new PublicApiRequirement()).Build());
        return authorization;
    }
}

/// <summary>The API key holds <c>&lt;resource&gt;:read</c> for GET and HEAD, <c>&lt;resource&gt;:write</c> otherwise (<see cref="Scopes.Required"/>).</summary>
public sealed class ScopeRequirement(string resource) : AuthorizationHandler<ScopeRequirement>, IAuthorizationRequirement
{
    public string Resource { get; } = resource;

    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, ScopeRequirement requirement)
    {
        if (context.Resource is HttpContext http && ApiKeyCaller.Of(http) is { } caller)
        {
            string required = Scopes.Required(requirement.Resource, http.Request);
            if (caller.HasScope(required))
            {
                context.Succeed(requirement);
            }
            else
            {
                context.Fail(new AuthorizationFailureReason(this, $"This API key lacks the {required} scope."));
            }
        }

        return Task.CompletedTask;
    }
}

/// <summary>Outside <c>/v1</c> anyone (health probes, the documentation); under it, only an authenticated API key.</summary>
public sealed class PublicApiRequirement : AuthorizationHandler<PublicApiRequirement>, IAuthorizationRequirement
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, PublicApiRequirement requirement)
    {
        if (context.Resource is HttpContext http
            && (!ApiKeyAuthenticationHandler.IsPublicApi(http.Request.Path) || ApiKeyCaller.Of(http) is not null))
        {
            context.Succeed(requirement);
        }

        return Task.CompletedTask;
    }
}

/// <summary>A 403 names the scope the key lacks (the reason its <see cref="ScopeRequirement"/> gave); the rest is ASP.NET Core's.</summary>
public sealed class ScopeForbiddenResultHandler : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (authorizeResult.Forbidden && authorizeResult.AuthorizationFailure?.FailureReasons.FirstOrDefault(r => r.Handler is ScopeRequirement) is { } reason)
        {
            return GatewayErrors.Write(context, StatusCodes.Status403Forbidden, "FORBIDDEN_SCOPE", reason.Message);
        }

        return _default.HandleAsync(next, context, policy, authorizeResult);
    }
}
