using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Webhooks.Deliveries;
using ScheduledPosts.Webhooks.Endpoints;

namespace ScheduledPosts.Webhooks.Api;

/// <summary>
/// REST behind the gateway: <c>/v1/webhook-endpoints</c> and <c>/v1/webhook-deliveries</c>. Thin: parse, call
/// <see cref="EndpointRegistry"/> or <see cref="DeliveryHistory"/>, map.
/// </summary>
public static class WebhookEndpointsApi
{
    public static IEndpointRouteBuilder MapWebhookEndpointsApi(this IEndpointRouteBuilder app)
    {
        var endpoints = app.MapGroup("/v1/webhook-endpoints")
            .RequireAuthorization(InternalPolicies.Resource("webhooks"));
        endpoints.MapPost("/", CreateAsync);
        endpoints.MapGet("/", ListAsync);
        endpoints.MapGet("/{id}", GetAsync);
        endpoints.MapPatch("/{id}", UpdateAsync);
        endpoints.MapDelete("/{id}", DeleteAsync);
        endpoints.MapPost("/{id}/rotate-secret", RotateSecretAsync);
        endpoints.MapPost("/{id}/test", SendTestAsync);
        endpoints.MapGet("/{id}/deliveries", ListDeliveriesAsync);

        var deliveries = app.MapGroup("/v1/webhook-deliveries")
            .RequireAuthorization(InternalPolicies.Resource("webhooks"));
        deliveries.MapGet("/{id}", GetDeliveryAsync);
        deliveries.MapPost("/{id}/redeliver", RedeliverAsync);
        return app;
    }

    private static async Task<Created<EndpointWithSecretJson>> CreateAsync(
        CreateEndpointBody? body, HttpContext http, EndpointRegistry registry, CancellationToken ct)
    {
        var created = await registry.CreateAsync(Caller(http), body?.Url, body?.Events, body?.Description, ct);
        return TypedResults.Created($"/v1/webhook-endpoints/{created.Endpoint.Id}", EndpointWithSecretJson.From(created));
    }

    private static async Task<Ok<EndpointListJson>> ListAsync(HttpContext http, EndpointRegistry registry, CancellationToken ct)
    {
        var endpoints = await registry.ListAsync(Caller(http), ct);
        return TypedResults.Ok(new EndpointListJson([.. endpoints.Select(EndpointJson.From)]));
    }

    private static async Task<Ok<EndpointJson>> GetAsync(string id, HttpContext http, EndpointRegistry registry, CancellationToken ct)
        => TypedResults.Ok(EndpointJson.From(await registry.GetAsync(Caller(http), id, ct)));

    private static async Task<Ok<EndpointJson>> UpdateAsync(
        string id, UpdateEndpointBody? body, HttpContext http, EndpointRegistry registry, CancellationToken ct)
        => TypedResults.Ok(EndpointJson.From(await registry.UpdateAsync(Caller(http), id, ToChanges(body), ct)));

    private static async Task<Ok<DeletedJson>> DeleteAsync(string id, HttpContext http, EndpointRegistry registry, CancellationToken ct)
    {
        await registry.DeleteAsync(Caller(http), id, ct);
        return TypedResults.Ok(new DeletedJson(id, Deleted: true));
    }

    private static async Task<Ok<EndpointWithSecretJson>> RotateSecretAsync(string id, HttpContext http, EndpointRegistry registry, CancellationToken ct)
        => TypedResults.Ok(EndpointWithSecretJson.From(await registry.RotateSecretAsync(Caller(http), id, ct)));

    private static async Task<Accepted<DeliveryView>> SendTestAsync(string id, HttpContext http, EndpointRegistry registry, CancellationToken ct)
    {
        var delivery = await registry.SendTestAsync(Caller(http), id, ct);
        return TypedResults.Accepted($"/v1/webhook-deliveries/{delivery.Id}", delivery);
    }

    private static async Task<Ok<DeliveryPage>> ListDeliveriesAsync(
        string id, string? status, string? limit, string? cursor, HttpContext http, DeliveryHistory history, CancellationToken ct)
        => TypedResults.Ok(await history.ListAsync(Caller(http), id, DeliveryRules.ParseQuery(status, limit, cursor), ct));

    private static async Task<Ok<DeliveryView>> GetDeliveryAsync(string id, HttpContext http, DeliveryHistory history, CancellationToken ct)
        => TypedResults.Ok(await history.GetAsync(Caller(http), id, ct));

    private static async Task<Accepted<DeliveryView>> RedeliverAsync(string id, HttpContext http, DeliveryHistory history, CancellationToken ct)
    {
        var delivery = await history.RedeliverAsync(Caller(http), id, ct);
        return TypedResults.Accepted($"/v1/webhook-deliveries/{delivery.Id}", delivery);
    }

    private static InternalIdentity Caller(HttpContext http) => InternalCaller.Current(http);

    // JSON merge-patch semantics: an absent field stays; "description": null clears it.
    private static EndpointChanges ToChanges(UpdateEndpointBody? body)
    {
        if (body is null)
        {
            return new EndpointChanges();
        }

        var description = body.Description;
        if (description.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null or JsonValueKind.String))
        {
            throw ApiException.Validation("description", "description must be a string or null.");
        }

        return new EndpointChanges(
            body.Url, body.Events,
            SetDescription: description.ValueKind != JsonValueKind.Undefined,
            Description: description.ValueKind == JsonValueKind.String ? description.GetString() : null,
            body.Enabled);
    }
}

public sealed record CreateEndpointBody(string? Url, IReadOnlyList<string>? Events, string? Description);

/// <summary>A partial update: absent fields stay as they are; <c>"description": null</c> clears the description.</summary>
public sealed record UpdateEndpointBody
{
    public string? Url { get; init; }

    public IReadOnlyList<string>? Events { get; init; }

    // A JsonElement tells an absent description (Undefined) from a null one.
    public JsonElement Description { get; init; }

    public bool? Enabled { get; init; }
}

public sealed record EndpointJson(
    string Id, string Url, IReadOnlyList<string> Events, string? Description, bool Enabled, string? DisabledReason,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    public static EndpointJson From(WebhookEndpoint e) => new(e.Id, e.Url, e.Events, e.Description, e.Enabled, e.DisabledReason, e.CreatedAt, e.UpdatedAt);
}

/// <summary>The create and rotate-secret responses: the endpoint plus its new signing secret, shown only here.</summary>
public sealed record EndpointWithSecretJson(
    string Id, string Url, IReadOnlyList<string> Events, string? Description, bool Enabled, string? DisabledReason,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, string Secret)
{
    /// <summary>
    /// Only after a rotation: until when the old secret still signs alongside the new one. A property, not a
    /// constructor parameter, so the OpenAPI document does not list it as required (a new endpoint has none).
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DateTimeOffset? PreviousSecretExpiresAt { get; init; }

    public static EndpointWithSecretJson From(EndpointWithSecret created)
    {
        var e = created.Endpoint;
        return new(e.Id, e.Url, e.Events, e.Description, e.Enabled, e.DisabledReason, e.CreatedAt, e.UpdatedAt, created.Secret)
        {
            PreviousSecretExpiresAt = created.PreviousSecretExpiresAt,
        };
    }

    public override string ToString() => $"Endpoint {Id} (secret redacted)";
}

public sealed record EndpointListJson(IReadOnlyList<EndpointJson> Data);

public sealed record DeletedJson(string Id, bool Deleted);
