using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;

namespace ScheduledPosts.Sandbox;

/// <summary>
/// The subset of the Mastodon REST API the publisher's connectors use, as documented at
/// https://docs.joinmastodon.org/methods/statuses/#create (Authorization: Bearer; form or JSON <c>status</c>,
/// <c>media_ids[]</c>, <c>in_reply_to_id</c>; <c>Idempotency-Key</c>), https://docs.joinmastodon.org/methods/media/
/// (<c>POST /api/v2/media</c>, <c>GET /api/v1/media/:id</c>) and https://docs.joinmastodon.org/entities/Status/.
/// The bearer token is not checked against anything: it is the account handle the status is posted as.
/// Faults set through <c>POST /sandbox/faults</c> apply to every route here.
/// </summary>
public static class MastodonApi
{
    /// <summary>A default Mastodon instance's character limit.</summary>
    public const int MaxCharacters = 500;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    public sealed record ErrorBody(string Error);

    public sealed record Account(string Id, string Username, string Acct);

    public sealed record MediaAttachment(string Id, string Type, string Url, string PreviewUrl, string? Description);

    public sealed record Status(string Id, DateTime CreatedAt, string Content, string Url, string Uri, string Visibility,
        string? InReplyToId, IReadOnlyList<MediaAttachment> MediaAttachments, Account Account);

    private sealed record StatusParameters(string? Text, IReadOnlyList<string> MediaIds, string? InReplyToId);

    public static IEndpointRouteBuilder MapMastodonApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").AddEndpointFilter((context, next) =>
            context.HttpContext.RequestServices.GetRequiredService<Faults>().InjectAsync(context, next));
        api.MapPost("/v1/statuses", PostStatus);
        api.MapPost("/v2/media", UploadMedia).DisableAntiforgery();
        api.MapGet("/v1/media/{id}", GetMedia);
        api.MapDelete("/v1/statuses/{id}", DeleteStatus);
        return app;
    }

    private static async Task<Results<JsonHttpResult<Status>, JsonHttpResult<ErrorBody>>> PostStatus(HttpRequest request, StatusStore store)
    {
        if (BearerToken(request) is not { } token)
        {
            return Unauthorized();
        }

        StatusParameters parameters;
        try
        {
            parameters = await ReadStatusParameters(request);
        }
        catch (JsonException)
        {
            return Fail(StatusCodes.Status400BadRequest, "The request body is not valid JSON");
        }

        var media = parameters.MediaIds.Select(id => store.FindMedia(token, id)).OfType<RecordedMedia>().ToList();
        if (media.Count != parameters.MediaIds.Count)
        {
            return Fail(StatusCodes.Status422UnprocessableEntity, "Validation failed: Media attachments are invalid");
        }

        if (string.IsNullOrWhiteSpace(parameters.Text) && media.Count == 0)
        {
            return Fail(StatusCodes.Status422UnprocessableEntity, "Validation failed: Text can't be blank");
        }

        // Mastodon counts characters, not UTF-16 units.
        if ((parameters.Text ?? "").EnumerateRunes().Count() > MaxCharacters)
        {
            return Fail(StatusCodes.Status422UnprocessableEntity, $"Validation failed: Text character limit of {MaxCharacters} exceeded");
        }

        if (parameters.InReplyToId is { } repliedTo && store.Find(repliedTo) is null)
        {
            return Fail(StatusCodes.Status404NotFound, "Record not found");
        }

        string? idempotencyKey = request.Headers["Idempotency-Key"].ToString() is { Length: > 0 } key ? key : null;
        var (recorded, _) = store.Add(token, parameters.Text ?? "", idempotencyKey, parameters.InReplyToId, media);
        return TypedResults.Json(ToStatus(recorded, Origin(request)), Json);
    }

    // https://docs.joinmastodon.org/methods/statuses/#delete: 200 with the deleted status; 404 "Record not found" for a
    // status the server does not have (or has deleted); only its author may delete it.
    private static Results<JsonHttpResult<Status>, JsonHttpResult<ErrorBody>> DeleteStatus(string id, HttpRequest request, StatusStore store)
    {
        if (BearerToken(request) is not { } token)
        {
            return Unauthorized();
        }

        return store.Delete(token, id) switch
        {
            (StatusStore.Deletion.Deleted, var deleted) => TypedResults.Json(ToStatus(deleted!, Origin(request)), Json),
            (StatusStore.Deletion.NotTheAuthor, _) => Fail(StatusCodes.Status403Forbidden, "This action is not allowed"),
            _ => Fail(StatusCodes.Status404NotFound, "Record not found"),
        };
    }

    private static async Task<Results<JsonHttpResult<MediaAttachment>, JsonHttpResult<ErrorBody>>> UploadMedia(HttpRequest request, StatusStore store)
    {
        if (BearerToken(request) is not { } token)
        {
            return Unauthorized();
        }

        if (!request.HasFormContentType)
        {
            return Fail(StatusCodes.Status422UnprocessableEntity, "Validation failed: File can't be blank");
        }

        var form = await request.ReadFormAsync(request.HttpContext.RequestAborted);
        if (form.Files.GetFile("file") is not { } file || file.ContentType is not { Length: > 0 } contentType)
        {
            return Fail(StatusCodes.Status422UnprocessableEntity, "Validation failed: File can't be blank");
        }

        if (!contentType.StartsWith("image/", StringComparison.OrdinalIgnoreCase))
        {
            return Fail(StatusCodes.Status422UnprocessableEntity, "Validation failed: File content type is invalid, File is invalid");
        }

        string? description = form["description"].ToString() is { Length: > 0 } d ? d : null;
        string sha256;
        await using (var content = file.OpenReadStream())
        {
            sha256 = Convert.ToHexStringLower(await SHA256.HashDataAsync(content, request.HttpContext.RequestAborted));
        }

        var media = store.AddMedia(token, file.FileName, contentType, file.Length, sha256, description);
        return TypedResults.Json(ToAttachment(media, Origin(request)), Json);
    }

    private static Results<JsonHttpResult<MediaAttachment>, JsonHttpResult<ErrorBody>> GetMedia(string id, HttpRequest request, StatusStore store)
    {
        if (BearerToken(request) is not { } token)
        {
            return Unauthorized();
        }

        return store.FindMedia(token, id) is { } media
            ? TypedResults.Json(ToAttachment(media, Origin(request)), Json)
            : Fail(StatusCodes.Status404NotFound, "Record not found");
    }

    internal static string? BearerToken(HttpRequest request)
    {
        string header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        return header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) && header[scheme.Length..].Trim() is { Length: > 0 } token
            ? token
            : null;
    }

    // Mastodon takes the parameters as a form or as JSON.
    private static async Task<StatusParameters> ReadStatusParameters(HttpRequest request)
    {
        if (request.HasFormContentType)
        {
            var form = await request.ReadFormAsync(request.HttpContext.RequestAborted);
            return new StatusParameters(form["status"].ToString(), [.. form["media_ids[]"].OfType<string>()],
                form["in_reply_to_id"].ToString() is { Length: > 0 } replyTo ? replyTo : null);
        }

        if (!request.HasJsonContentType())
        {
            return new StatusParameters(null, [], null);
        }

        using var body = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
        var root = body.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            return new StatusParameters(null, [], null);
        }

        return new StatusParameters(
            String(root, "status"),
            root.TryGetProperty("media_ids", out var ids) && ids.ValueKind == JsonValueKind.Array
                ? [.. ids.EnumerateArray().Where(i => i.ValueKind == JsonValueKind.String).Select(i => i.GetString()!)]
                : [],
            String(root, "in_reply_to_id"));

        static string? String(JsonElement root, string name)
            => root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
    }

    private static string Origin(HttpRequest request) => $"{request.Scheme}://{request.Host}";

    private static Status ToStatus(RecordedStatus recorded, string origin)
    {
        string username = recorded.Account.TrimStart('@');
        return new Status(
            recorded.Id,
            recorded.ReceivedAt.UtcDateTime,
            $"<p>{WebUtility.HtmlEncode(recorded.Status)}</p>",
            $"{origin}/@{username}/{recorded.Id}",
            $"{origin}/users/{username}/statuses/{recorded.Id}",
            "public",
            recorded.InReplyToId,
            [.. (recorded.Media ?? []).Select(m => ToAttachment(m, origin))],
            new Account(username, username, username));
    }

    private static MediaAttachment ToAttachment(RecordedMedia media, string origin)
        => new(media.Id, media.Type, $"{origin}/media/{media.Id}/original", $"{origin}/media/{media.Id}/small", media.Description);

    private static JsonHttpResult<ErrorBody> Unauthorized() => Fail(StatusCodes.Status401Unauthorized, "The access token is invalid");

    internal static JsonHttpResult<ErrorBody> Fail(int status, string message) => TypedResults.Json(new ErrorBody(message), Json, statusCode: status);

    internal static string IsoTimestamp(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);
}
