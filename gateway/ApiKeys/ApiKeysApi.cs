using Microsoft.AspNetCore.Http.HttpResults;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Gateway.ApiKeys;

/// <summary><c>/v1/api-keys</c>: the gateway's own REST endpoints; every one needs <c>keys:write</c> (the <c>keys</c> policy).</summary>
public static class ApiKeysApi
{
    public static IEndpointRouteBuilder MapApiKeysApi(this IEndpointRouteBuilder app)
    {
        var keys = app.MapGroup("/v1/api-keys")
            .RequireAuthorization("keys")
            .WithTags("api-keys");
        keys.MapPost("/", MintAsync)
            .WithName("mintApiKey")
            .WithSummary("Mint an API key")
            .WithDescription("The secret is in this response only; afterwards only its prefix is shown. A key cannot grant more than its minter holds, and only owner keys mint owner keys. A workspace holds at most ApiKeys:MaxActivePerWorkspace active keys (100 by default): one more is a 409 until one is revoked.");
        keys.MapGet("/", ListAsync)
            .WithName("listApiKeys")
            .WithSummary("List the workspace's API keys")
            .WithDescription("Active and revoked keys, oldest first, never with their secrets.");
        keys.MapGet("/{id}", GetAsync)
            .WithName("getApiKey")
            .WithSummary("Get an API key");
        keys.MapDelete("/{id}", RevokeAsync)
            .WithName("revokeApiKey")
            .WithSummary("Revoke an API key")
            .WithDescription("The key is refused at once (within seconds on every gateway replica). Revoking a revoked key changes nothing; the workspace's last active owner key cannot be revoked (409).");
        return app;
    }

    private static async Task<Created<MintedApiKeyJson>> MintAsync(CreateApiKeyBody body, HttpContext http, ApiKeyRegistry registry, CancellationToken ct)
    {
        var minted = await registry.MintAsync(Caller(http), body.Name, body.Role, body.Scopes, ct);
        return TypedResults.Created($"/v1/api-keys/{minted.Key.Id}", MintedApiKeyJson.From(minted));
    }

    private static async Task<Ok<ApiKeyListJson>> ListAsync(HttpContext http, ApiKeyRegistry registry, CancellationToken ct)
        => TypedResults.Ok(new ApiKeyListJson(await registry.ListAsync(Caller(http), ct)));

    private static async Task<Ok<ApiKeyView>> GetAsync(string id, HttpContext http, ApiKeyRegistry registry, CancellationToken ct)
        => TypedResults.Ok(await registry.GetAsync(Caller(http), id, ct));

    private static async Task<Ok<ApiKeyView>> RevokeAsync(string id, HttpContext http, ApiKeyRegistry registry, CancellationToken ct)
        => TypedResults.Ok(await registry.RevokeAsync(Caller(http), id, ct));

    private static ApiKeyCaller Caller(HttpContext http) => ApiKeyCaller.Of(http) ?? throw ApiException.Unauthenticated();
}

/// <param name="Scopes">Optional: a subset of the role's scopes; the role's whole bundle when left out.</param>
public sealed record CreateApiKeyBody(string? Name, string? Role, IReadOnlyList<string?>? Scopes);

public sealed record ApiKeyListJson(IReadOnlyList<ApiKeyView> Data);

/// <summary>The minted key and, only here, its <see cref="Secret"/>: send it as <c>Authorization: Bearer</c> or <c>X-Api-Key</c>.</summary>
public sealed record MintedApiKeyJson(
    string Id, string Name, string Role, IReadOnlyList<string> Scopes, string Prefix,
    DateTimeOffset CreatedAt, DateTimeOffset? LastUsedAt, DateTimeOffset? RevokedAt, string Secret)
{
    public static MintedApiKeyJson From(MintedApiKey minted)
    {
        var k = minted.Key;
        return new(k.Id, k.Name, k.Role, k.Scopes, k.Prefix, k.CreatedAt, k.LastUsedAt, k.RevokedAt, minted.Secret);
    }
}
