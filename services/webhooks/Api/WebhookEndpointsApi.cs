using Microsoft.AspNetCore.Http.HttpResults;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Webhooks.Endpoints;

namespace ScheduledPosts.Webhooks.Api;

/// <summary>REST behind the gateway: <c>/v1/webhook-endpoints</c>. Thin: parse, call <see cref="EndpointRegistry"/>, map.</summary>
public static class WebhookEndpointsApi
{
    public static IEndpointRouteBuilder MapWebhookEndpointsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/webhook-endpoints");
        group.MapPost("/", CreateAsync);
        group.MapGet("/", ListAsync);
        group.MapGet("/{id}", GetAsync);
        return app;
    }

    private static async Task<Created<CreatedEndpointJson>> CreateAsync(
        CreateEndpointBody? body, HttpContext http, EndpointRegistry registry, CancellationToken ct)
    {
        var created = await registry.CreateAsync(InternalIdentityMiddleware.Current(http), body?.Url, body?.Events, body?.Description, ct);
        var e = created.Endpoint;
        return TypedResults.Created($"/v1/webhook-endpoints/{e.Id}",
            new CreatedEndpointJson(e.Id, e.Url, e.Events, e.Description, e.Enabled, e.CreatedAt, created.Secret));
    }

    private static async Task<Ok<EndpointListJson>> ListAsync(HttpContext http, EndpointRegistry registry, CancellationToken ct)
    {
        var endpoints = await registry.ListAsync(InternalIdentityMiddleware.Current(http), ct);
        return TypedResults.Ok(new EndpointListJson([.. endpoints.Select(EndpointJson.From)]));
    }

    private static async Task<Ok<EndpointJson>> GetAsync(string id, HttpContext http, EndpointRegistry registry, CancellationToken ct)
        => TypedResults.Ok(EndpointJson.From(await registry.GetAsync(InternalIdentityMiddleware.Current(http), id, ct)));
}

public sealed record CreateEndpointBody(string? Url, IReadOnlyList<string>? Events, string? Description);

public sealed record EndpointJson(string Id, string Url, IReadOnlyList<string> Events, string? Description, bool Enabled, DateTimeOffset CreatedAt)
{
    public static EndpointJson From(WebhookEndpoint e) => new(e.Id, e.Url, e.Events, e.Description, e.Enabled, e.CreatedAt);
}

/// <summary>The create response: the endpoint plus its signing secret, shown only here.</summary>
public sealed record CreatedEndpointJson(
    string Id, string Url, IReadOnlyList<string> Events, string? Description, bool Enabled, DateTimeOffset CreatedAt, string Secret);

public sealed record EndpointListJson(IReadOnlyList<EndpointJson> Data);
